#include "io/rtstruct.h"

#include "io/dicom_lengths.h"

// DCMTK only here (see dicom_seg.cpp).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "core/error.h"

namespace fs = std::filesystem;

namespace fratmae::io {

namespace {

std::string text(DcmItem& item, const DcmTagKey& key) {
  OFString v;
  item.findAndGetOFStringArray(key, v);
  return v.c_str();
}

// The data set of an RTSTRUCT file (kept alive by `ff`).
DcmDataset& load(DcmFileFormat& ff, const fs::path& file) {
  if (!fs::is_regular_file(file)) throw FileError(file, "no such file");
  check_dicom_lengths(file);
  const OFCondition c = ff.loadFile(file.string().c_str());
  if (c.bad()) throw FileError(file, std::string("not a readable DICOM file (") + c.text() + ")");
  DcmDataset& ds = *ff.getDataset();
  const std::string sop = text(ds, DCM_SOPClassUID), modality = text(ds, DCM_Modality);
  if (sop != UID_RTStructureSetStorage && modality != "RTSTRUCT")
    throw FileError(file, "is not an RT Structure Set (Modality " + (modality.empty() ? "(none)" : modality) + ")");
  return ds;
}

template <class F>
void for_items(DcmItem& parent, const DcmTagKey& seq, F&& f) {
  for (long i = 0;; ++i) {
    DcmItem* item = nullptr;
    if (parent.findAndGetSequenceItem(seq, item, i).bad() || !item) break;
    f(*item);
  }
}

int number_of(DcmItem& item, const DcmTagKey& key) {
  const std::string s = text(item, key);
  try {
    return s.empty() ? -1 : std::stoi(s);
  } catch (...) {
    return -1;
  }
}

std::vector<RtRoi> read_rois(DcmDataset& ds) {
  std::vector<RtRoi> rois;
  for_items(ds, DCM_StructureSetROISequence, [&](DcmItem& it) {
    RtRoi r;
    r.number = number_of(it, DCM_ROINumber);
    r.name = text(it, DCM_ROIName);
    r.frame_of_reference_uid = text(it, DCM_ReferencedFrameOfReferenceUID);
    rois.push_back(r);
  });
  for_items(ds, DCM_ROIContourSequence, [&](DcmItem& it) {
    const int n = number_of(it, DCM_ReferencedROINumber);
    int64_t count = 0;
    for_items(it, DCM_ContourSequence, [&](DcmItem&) { ++count; });
    for (RtRoi& r : rois)
      if (r.number == n) r.contours += count;
  });
  return rois;
}

}  // namespace

std::vector<RtRoi> rtstruct_rois(const fs::path& file) {
  DcmFileFormat ff;
  return read_rois(load(ff, file));
}

std::string describe_rois(const std::vector<RtRoi>& rois) {
  std::string s;
  for (const RtRoi& r : rois)
    s += (s.empty() ? "" : ", ") + std::to_string(r.number) + " " + r.name + " (" + std::to_string(r.contours) +
         " contours)";
  return s.empty() ? "none" : s;
}

std::string rtstruct_referenced_series(const fs::path& file) {
  DcmFileFormat ff;
  DcmDataset& ds = load(ff, file);
  std::string uid;
  for_items(ds, DCM_ReferencedFrameOfReferenceSequence, [&](DcmItem& frame) {
    for_items(frame, DCM_RTReferencedStudySequence, [&](DcmItem& study) {
      for_items(study, DCM_RTReferencedSeriesSequence, [&](DcmItem& series) {
        if (uid.empty()) uid = text(series, DCM_SeriesInstanceUID);
      });
    });
  });
  return uid;
}

void xor_polygon(at::Tensor& slice, const std::vector<std::array<double, 2>>& polygon) {
  const int64_t rows = slice.size(0), cols = slice.size(1);
  const size_t n = polygon.size();
  if (n < 3) return;
  auto a = slice.accessor<uint8_t, 2>();
  std::vector<double> xs;
  double vmin = 1e300, vmax = -1e300;
  for (const auto& p : polygon) vmin = std::min(vmin, p[1]), vmax = std::max(vmax, p[1]);
  const int64_t j0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(vmin)));
  const int64_t j1 = std::min<int64_t>(rows - 1, static_cast<int64_t>(std::floor(vmax)));
  for (int64_t j = j0; j <= j1; ++j) {  // the row of voxel centres at v = j
    const double v = static_cast<double>(j);
    xs.clear();
    for (size_t e = 0; e < n; ++e) {
      const auto& p = polygon[e];
      const auto& q = polygon[(e + 1) % n];
      // Half-open in v, so a vertex on the scan line is counted once.
      if ((p[1] <= v && v < q[1]) || (q[1] <= v && v < p[1]))
        xs.push_back(p[0] + (v - p[1]) * (q[0] - p[0]) / (q[1] - p[1]));
    }
    std::sort(xs.begin(), xs.end());
    for (size_t m = 0; m + 1 < xs.size(); m += 2) {
      // Centres u = i with xs[m] <= i < xs[m + 1].
      const int64_t i0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(xs[m])));
      const int64_t i1 = std::min<int64_t>(cols, static_cast<int64_t>(std::ceil(xs[m + 1])));
      for (int64_t i = i0; i < i1; ++i) a[j][i] ^= 1;
    }
  }
}

RtStructLabels rasterise_rtstruct(const fs::path& file, const std::string& roi, const Geometry& grid,
                                  const std::string& grid_frame_uid, bool allow_different_frames) {
  DcmFileFormat ff;
  DcmDataset& ds = load(ff, file);
  const std::vector<RtRoi> rois = read_rois(ds);
  if (rois.empty()) throw FileError(file, "the structure set has no ROIs");
  RtStructLabels out;
  bool found = false;
  for (const RtRoi& r : rois)
    if (r.name == roi || std::to_string(r.number) == roi) {
      out.roi = r;
      found = true;
      break;
    }
  if (!found)
    throw FileError(file, (roi.empty() ? std::string("name the ROI to read (--roi NAME|NUMBER)")
                                       : "has no ROI named or numbered '" + roi + "'") +
                              "; its ROIs: " + describe_rois(rois));
  if (!grid_frame_uid.empty() && !out.roi.frame_of_reference_uid.empty() &&
      out.roi.frame_of_reference_uid != grid_frame_uid && !allow_different_frames)
    throw FileError(file, "ROI " + out.roi.name + " lies in frame of reference " + out.roi.frame_of_reference_uid +
                              ", not the image's (" + grid_frame_uid + ")");
  out.referenced_series_uid = rtstruct_referenced_series(file);

  const int64_t ni = grid.size[0], nj = grid.size[1], nk = grid.size[2];
  at::Tensor mask = at::zeros({nk, nj, ni}, at::kByte);
  std::map<int64_t, bool> touched;
  int64_t contour_index = 0;
  for_items(ds, DCM_ROIContourSequence, [&](DcmItem& it) {
    if (number_of(it, DCM_ReferencedROINumber) != out.roi.number) return;
    for_items(it, DCM_ContourSequence, [&](DcmItem& c) {
      ++contour_index;
      const std::string type = text(c, DCM_ContourGeometricType);
      if (type == "POINT") {
        ++out.skipped_points;
        return;
      }
      if (type != "CLOSED_PLANAR") {
        ++out.skipped_open;
        return;
      }
      DcmElement* el = nullptr;
      if (c.findAndGetElement(DCM_ContourData, el).bad() || !el) return;
      const unsigned long count = el->getVM();
      std::vector<Float64> values(count);
      for (unsigned long i = 0; i < count; ++i) el->getFloat64(values[i], i);
      if (count < 9 || count % 3 != 0)
        throw FileError(file, "ROI " + out.roi.name + ", contour " + std::to_string(contour_index) +
                                  ": Contour Data holds " + std::to_string(count) + " numbers, not 3 per point (>= 3 points)");
      std::vector<std::array<double, 2>> polygon;
      double kmin = 1e300, kmax = -1e300;
      for (unsigned long p = 0; p < count; p += 3) {
        const auto idx = grid.physical_to_index({values[p], values[p + 1], values[p + 2]});
        polygon.push_back({idx[0], idx[1]});
        kmin = std::min(kmin, idx[2]);
        kmax = std::max(kmax, idx[2]);
      }
      const int64_t k = std::llround(0.5 * (kmin + kmax));
      if (kmax - kmin > 0.2 || std::abs(kmin - static_cast<double>(k)) > 0.1 || std::abs(kmax - static_cast<double>(k)) > 0.1)
        throw FileError(file, "ROI " + out.roi.name + ", contour " + std::to_string(contour_index) +
                                  " does not lie in a slice of the image (slice index " + std::to_string(kmin) + " to " +
                                  std::to_string(kmax) + "): was it drawn on another series?");
      if (k < 0 || k >= nk)
        throw FileError(file, "ROI " + out.roi.name + ", contour " + std::to_string(contour_index) +
                                  " lies outside the image (slice " + std::to_string(k) + " of 0.." +
                                  std::to_string(nk - 1) + ")");
      at::Tensor slice = mask[k];
      xor_polygon(slice, polygon);
      touched[k] = true;
      ++out.contours_filled;
    });
  });
  out.slices = static_cast<int64_t>(touched.size());
  out.mask = Volume{mask, grid};
  return out;
}

}  // namespace fratmae::io
