#include "io/dicom_seg.h"

// DCMTK only here: its headers define configuration macros the rest of fratmae should not see.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmiod/iodreferences.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmseg/segutils.h>
#include <dcmtk/oflog/oflog.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "core/error.h"
#include "io/dicom_lengths.h"
#include "io/resample.h"

namespace fs = std::filesystem;

namespace fratmae::io {

namespace {

// DCMTK logs to stderr by default; fratmae reports errors itself.
void quiet_dcmtk() {
  static const bool done = [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    return true;
  }();
  (void)done;
}

std::string ds(double v) {  // a DICOM decimal string (16 characters at most)
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", std::abs(v) < 1e-12 ? 0.0 : v);
  std::string s(buf);
  if (s.size() > 16) {
    std::snprintf(buf, sizeof buf, "%.8g", v);
    s = buf;
  }
  return s;
}

void check(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw Error("DICOM SEG: " + what + ": " + c.text());
}

std::string to_std(const OFString& s) { return std::string(s.c_str()); }

// Codes (SNOMED CT, DICOM PS3.16 CID 7150/7151 and DCM).
CodeSequenceMacro category_code() { return CodeSequenceMacro("49755003", "SCT", "Morphologically Altered Structure"); }
CodeSequenceMacro lesion_code() { return CodeSequenceMacro("52988006", "SCT", "Lesion"); }
CodeSequenceMacro segmentation_derivation() { return CodeSequenceMacro("113076", "DCM", "Segmentation"); }
CodeSequenceMacro source_image_purpose() {
  return CodeSequenceMacro("121322", "DCM", "Source image for image processing operation");
}

// Values taken over from the source image that break their VR's length (seen: the IBSI STS_002
// PET's Study ID of 18 characters in an SH of at most 16) are cut to the VR's maximum, so that
// the SEG itself is valid; each cut is logged. Single-valued strings only.
void fit_inherited_values(DcmItem& ds) {
  for (unsigned long i = 0; i < ds.card(); ++i) {
    DcmElement* e = ds.getElement(i);
    if (!e) continue;
    const DcmEVR vr = e->ident();
    if (vr != EVR_SH && vr != EVR_LO && vr != EVR_CS && vr != EVR_AE && vr != EVR_PN) continue;
    const Uint32 max = DcmVR(vr).getMaxValueLength();
    OFString v;
    if (e->getOFStringArray(v).bad() || v.find('\\') != OFString_npos || v.length() <= max) continue;
    spdlog::warn("DICOM SEG: {} '{}' of the source image is longer than its VR allows ({} characters): cut to '{}'",
                 DcmTag(e->getTag()).getTagName(), v.c_str(), max, v.substr(0, max).c_str());
    e->putOFStringArray(v.substr(0, max));
  }
}

}  // namespace

int64_t write_dicom_seg(const at::Tensor& mask, const Geometry& grid, const DicomSeries& pet, const fs::path& file,
                        const DicomSegWriteInfo& info) {
  quiet_dcmtk();
  const int64_t ni = grid.size[0], nj = grid.size[1], nk = grid.size[2];
  if (mask.dim() != 3 || mask.size(0) != nk || mask.size(1) != nj || mask.size(2) != ni)
    throw Error("DICOM SEG: the mask's shape does not match the PET grid");
  if (static_cast<int64_t>(pet.files.size()) != nk)
    throw Error("DICOM SEG: the PET series has " + std::to_string(pet.files.size()) + " files for " +
                std::to_string(nk) + " slices");
  if (ni > 65535 || nj > 65535) throw Error("DICOM SEG: slices larger than 65535 pixels cannot be written");
  const at::Tensor m = mask.ne(0).to(at::kByte).contiguous();
  std::vector<int64_t> slices;
  {
    const at::Tensor any = m.view({nk, -1}).amax(1);
    const auto a = any.accessor<uint8_t, 1>();
    for (int64_t k = 0; k < nk; ++k)
      if (a[k]) slices.push_back(k);
  }
  if (slices.empty()) throw Error("DICOM SEG: the mask is empty (an empty Segmentation is not a valid object)");

  const IODGeneralEquipmentModule::EquipmentInfo equipment("fratmae", "fratmae", "1", info.algorithm_version.c_str());
  const ContentIdentificationMacro content("1", info.content_label.substr(0, 16).c_str(),
                                           info.content_description.substr(0, 64).c_str(), "fratmae");
  DcmSegmentation* raw = nullptr;
  check(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(nj), static_cast<Uint16>(ni), equipment,
                                                  content),
        "creating the object");
  std::unique_ptr<DcmSegmentation> seg(raw);
  {
    const OFCondition c = seg->importFromSourceImage(pet.files.front().string().c_str());
    if (c.bad()) throw FileError(pet.files.front(), std::string("patient and study could not be taken over: ") + c.text());
  }
  char uid[100];
  check(seg->getSeries().setSeriesInstanceUID(dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT)), "series UID");
  check(seg->getSeries().setSeriesNumber(std::to_string(info.series_number).c_str()), "series number");
  check(seg->getSeries().setSeriesDescription(info.series_description.substr(0, 64).c_str()), "series description");

  DcmSegment* segment = nullptr;
  check(DcmSegment::create(segment, "Lesion", category_code(), lesion_code(), DcmSegTypes::SAT_AUTOMATIC, "fratmae"),
        "creating the segment");
  Uint16 segment_number = 0;
  {
    const OFCondition c = seg->addSegment(segment, segment_number);
    if (c.bad()) delete segment;
    check(c, "adding the segment");
  }

  // Shared functional groups: pixel measures and orientation (every frame lies in the PET's planes).
  FGPixelMeasures measures;
  check(measures.setPixelSpacing((ds(grid.spacing[1]) + "\\" + ds(grid.spacing[0])).c_str()), "pixel spacing");
  check(measures.setSliceThickness(ds(grid.spacing[2]).c_str()), "slice thickness");
  check(measures.setSpacingBetweenSlices(ds(grid.spacing[2]).c_str()), "spacing between slices");
  check(seg->addForAllFrames(measures), "pixel measures");
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      ds(grid.dir(0, 0)).c_str(), ds(grid.dir(1, 0)).c_str(), ds(grid.dir(2, 0)).c_str(), ds(grid.dir(0, 1)).c_str(),
      ds(grid.dir(1, 1)).c_str(), ds(grid.dir(2, 1)).c_str()));
  if (!orientation) throw Error("DICOM SEG: the PET's orientation cannot be written");
  check(seg->addForAllFrames(*orientation), "plane orientation");

  const OFString dimension_uid = dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
  check(seg->getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid,
                                               DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
        "dimension index");
  check(seg->getDimensions().addDimensionIndex(DCM_ImagePositionPatient, dimension_uid, DCM_PlanePositionSequence,
                                               "ImagePositionPatient"),
        "dimension index");

  OFVector<OFString> referenced;
  std::vector<Uint8> pixels(static_cast<size_t>(ni * nj));
  for (int64_t k : slices) {
    const auto p = grid.index_to_physical({0.0, 0.0, static_cast<double>(k)});
    std::unique_ptr<FGPlanePosPatient> position(
        FGPlanePosPatient::createMinimal(ds(p[0]).c_str(), ds(p[1]).c_str(), ds(p[2]).c_str()));
    if (!position) throw Error("DICOM SEG: the position of slice " + std::to_string(k) + " cannot be written");
    FGFrameContent frame_content;
    check(frame_content.setDimensionIndexValues(segment_number, 0), "frame content");
    check(frame_content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), "frame content");
    FGDerivationImage derivation;
    DerivationImageItem* item = nullptr;
    check(derivation.addDerivationImageItem(segmentation_derivation(), "", item), "derivation image");
    SourceImageItem* source = nullptr;
    const fs::path& src = pet.files[static_cast<size_t>(k)];
    {
      const OFCondition c = item->addSourceImageItem(src.string().c_str(), source_image_purpose(), source);
      if (c.bad()) throw FileError(src, std::string("cannot be referenced as the SEG's source image: ") + c.text());
    }
    std::copy_n(m[k].data_ptr<uint8_t>(), pixels.size(), pixels.data());
    OFVector<FGBase*> per_frame;
    per_frame.push_back(position.get());
    per_frame.push_back(&frame_content);
    per_frame.push_back(&derivation);
    check(seg->addFrame(pixels.data(), segment_number, per_frame), "adding frame " + std::to_string(k));
    referenced.push_back(src.string().c_str());
  }
  // Common Instance Reference: the PET series and the instances the frames were derived from.
  IODReferences refs;
  if (refs.addFromFiles(referenced, IODReference::LEVEL_STUDY) != referenced.size())
    throw FileError(pet.folder, "the PET instances could not all be referenced");
  OFString study_uid;
  seg->getStudy().getStudyInstanceUID(study_uid);
  seg->getCommonInstanceReference().addReferences(refs, study_uid);

  DcmFileFormat ff;
  check(seg->writeDataset(*ff.getDataset()), "assembling the object");
  fit_inherited_values(*ff.getDataset());
  const OFCondition c = ff.saveFile(file.string().c_str(), EXS_LittleEndianExplicit);
  if (c.bad()) throw FileError(file, std::string("the DICOM SEG could not be written: ") + c.text());
  return static_cast<int64_t>(slices.size());
}

namespace {

using Vec = std::array<double, 3>;
double dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

struct SegFrame {
  int segment = 0;
  Vec position{}, row{}, col{};
  double row_spacing = 0, col_spacing = 0, slice_spacing = 0;
  std::vector<Uint8> pixels;  // rows * columns, 0/1
};

template <class FG>
FG* frame_group(FGInterface& groups, size_t f, DcmFGTypes::E_FGType type) {
  return dynamic_cast<FG*>(groups.get(static_cast<Uint32>(f), type));
}

}  // namespace

DicomSegLabels read_dicom_seg(const fs::path& file, const Geometry& target, const std::string& target_frame_uid,
                              const std::vector<int>& wanted, bool allow_different_frames) {
  quiet_dcmtk();
  if (!fs::is_regular_file(file)) throw FileError(file, "no such file");
  check_dicom_lengths(file);
  DcmSegmentation* raw = nullptr;
  const OFCondition loaded = DcmSegmentation::loadFile(file.string().c_str(), raw);
  std::unique_ptr<DcmSegmentation> seg(raw);  // owned also when loading failed half-way (it may be set then)
  if (loaded.bad() || !seg)
    throw FileError(file, std::string("not a readable DICOM Segmentation (") + loaded.text() + ")");
  DicomSegLabels out;
  Uint16 rows = 0, cols = 0;
  {  // Frame size, and the series it was derived from (Common Instance Reference) for the caller to check.
    DcmFileFormat ff;
    DcmItem* series = nullptr;
    OFString uid;
    if (ff.loadFile(file.string().c_str()).good()) {
      ff.getDataset()->findAndGetUint16(DCM_Rows, rows);
      ff.getDataset()->findAndGetUint16(DCM_Columns, cols);
      if (ff.getDataset()->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good() && series &&
          series->findAndGetOFString(DCM_SeriesInstanceUID, uid).good())
        out.referenced_series_uid = uid.c_str();
    }
  }
  OFString s;
  seg->getFrameOfReference().getFrameOfReferenceUID(s);
  out.frame_of_reference_uid = to_std(s);
  seg->getSeries().getSeriesInstanceUID(s);
  out.series_uid = to_std(s);
  if (!target_frame_uid.empty() && out.frame_of_reference_uid != target_frame_uid && !allow_different_frames)
    throw FileError(file, "its frame of reference (" + out.frame_of_reference_uid + ") is not the image's (" +
                              target_frame_uid + "): the segmentation belongs to another acquisition "
                              "(--allow-different-frames accepts it if the scanner kept both aligned)");
  if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY)
    throw FileError(file, "a fractional (probability or occupancy) Segmentation: fratmae reads binary ones");
  if (rows == 0 || cols == 0) throw FileError(file, "Rows or Columns is missing or zero");

  const size_t n_segments = seg->getNumberOfSegments();
  for (size_t i = 1; i <= n_segments; ++i) {
    DcmSegment* sg = seg->getSegment(i);
    if (!sg) continue;
    DicomSegSegment d;
    d.number = static_cast<int>(i);
    sg->getSegmentLabel(s);
    d.label = to_std(s);
    sg->getSegmentedPropertyCategoryCode().getCodeMeaning(s);
    d.category = to_std(s);
    sg->getSegmentedPropertyTypeCode().getCodeMeaning(s);
    d.type = to_std(s);
    out.segments.push_back(d);
  }
  if (out.segments.empty()) throw FileError(file, "the Segmentation has no segments");
  for (int w : wanted)
    if (w < 1 || w > static_cast<int>(n_segments))
      throw FileError(file, "has no segment " + std::to_string(w) + " (it has " + std::to_string(n_segments) +
                                ": 1.." + std::to_string(n_segments) + ")");
  out.used = wanted;
  if (out.used.empty())
    for (const auto& d : out.segments) out.used.push_back(d.number);

  FGInterface& groups = seg->getFunctionalGroups();
  const size_t n_frames = seg->getNumberOfFrames();
  if (n_frames == 0) throw FileError(file, "the Segmentation has no frames");
  std::vector<SegFrame> frames;
  for (size_t f = 0; f < n_frames; ++f) {
    auto where = [&](const std::string& what) {
      return FileError(file, "frame " + std::to_string(f + 1) + ": " + what);
    };
    SegFrame fr;
    auto* sgfg = frame_group<FGSegmentation>(groups, f, DcmFGTypes::EFG_SEGMENTATION);
    Uint16 num = 0;
    if (!sgfg || sgfg->getReferencedSegmentNumber(num).bad()) throw where("no Referenced Segment Number");
    fr.segment = num;
    auto it = std::find(out.used.begin(), out.used.end(), fr.segment);
    for (auto& d : out.segments)
      if (d.number == fr.segment) ++d.frames;
    if (it == out.used.end()) continue;
    auto* pos = frame_group<FGPlanePosPatient>(groups, f, DcmFGTypes::EFG_PLANEPOSPATIENT);
    if (!pos || pos->getImagePositionPatient(fr.position[0], fr.position[1], fr.position[2]).bad())
      throw where("no Image Position (Patient)");
    auto* ori = frame_group<FGPlaneOrientationPatient>(groups, f, DcmFGTypes::EFG_PLANEORIENTPATIENT);
    if (!ori || ori->getImageOrientationPatient(fr.row[0], fr.row[1], fr.row[2], fr.col[0], fr.col[1], fr.col[2]).bad())
      throw where("no Image Orientation (Patient)");
    auto* pm = frame_group<FGPixelMeasures>(groups, f, DcmFGTypes::EFG_PIXELMEASURES);
    if (!pm || pm->getPixelSpacing(fr.row_spacing, 0).bad() || pm->getPixelSpacing(fr.col_spacing, 1).bad() ||
        !(fr.row_spacing > 0) || !(fr.col_spacing > 0))
      throw where("no valid Pixel Spacing");
    if (pm->getSpacingBetweenSlices(fr.slice_spacing).bad()) fr.slice_spacing = 0;
    const DcmIODTypes::Frame* data = seg->getFrame(f);
    if (!data || !data->pixData) throw where("no pixel data");
    const size_t n = static_cast<size_t>(rows) * cols;
    fr.pixels.assign(n, 0);
    if (data->length < n) {  // bit-packed, as stored
      std::unique_ptr<DcmIODTypes::Frame> unpacked(DcmSegUtils::unpackBinaryFrame(data, rows, cols));
      if (!unpacked || unpacked->length < n) throw where("its binary pixel data is shorter than Rows x Columns");
      for (size_t i = 0; i < n; ++i) fr.pixels[i] = unpacked->pixData[i] != 0;
    } else {
      for (size_t i = 0; i < n; ++i) fr.pixels[i] = data->pixData[i] != 0;
    }
    frames.push_back(std::move(fr));
  }

  Geometry stack;
  stack.size = {cols, rows, 1};
  if (frames.empty()) {
    out.mask = Volume{at::zeros({target.size[2], target.size[1], target.size[0]}, at::kByte), target};
    return out;
  }
  // The SEG's own stack: orientation and pixel size of the frames, slices along the normal.
  const SegFrame& f0 = frames.front();
  const Vec normal = cross(f0.row, f0.col);
  for (const SegFrame& fr : frames) {
    for (int a = 0; a < 3; ++a)
      if (std::abs(fr.row[a] - f0.row[a]) > 1e-4 || std::abs(fr.col[a] - f0.col[a]) > 1e-4)
        throw FileError(file, "its frames have different orientations (not one stack of slices)");
    if (std::abs(fr.row_spacing - f0.row_spacing) > 1e-4 || std::abs(fr.col_spacing - f0.col_spacing) > 1e-4)
      throw FileError(file, "its frames have different pixel spacings");
  }
  std::vector<double> offsets;
  for (const SegFrame& fr : frames) offsets.push_back(dot(fr.position, normal));
  const double lo = *std::min_element(offsets.begin(), offsets.end());
  const double hi = *std::max_element(offsets.begin(), offsets.end());
  // Slice spacing: the SEG's own, else the target's when its slices are parallel, else the
  // smallest gap between frames.
  double spacing = f0.slice_spacing;
  const Vec target_normal{target.dir(0, 2), target.dir(1, 2), target.dir(2, 2)};
  if (!(spacing > 0) && std::abs(std::abs(dot(target_normal, normal)) - 1.0) < 1e-4) spacing = target.spacing[2];
  if (!(spacing > 0)) {
    std::vector<double> sorted = offsets;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i] - sorted[i - 1] > 1e-3 && (!(spacing > 0) || sorted[i] - sorted[i - 1] < spacing))
        spacing = sorted[i] - sorted[i - 1];
    if (!(spacing > 0)) spacing = 1.0;
  }
  const int64_t nk = static_cast<int64_t>(std::llround((hi - lo) / spacing)) + 1;
  if (nk > 100000) throw FileError(file, "its frames span more than 100,000 slices");
  // Origin: the in-plane position shared by all frames, at the lowest offset.
  Vec origin{};
  for (int a = 0; a < 3; ++a) origin[a] = f0.position[a] + (lo - offsets[0]) * normal[a];
  stack.size = {cols, rows, nk};
  stack.spacing = {f0.col_spacing, f0.row_spacing, spacing};
  stack.origin = origin;
  for (int r = 0; r < 3; ++r) {
    stack.direction[r * 3 + 0] = f0.row[r];
    stack.direction[r * 3 + 1] = f0.col[r];
    stack.direction[r * 3 + 2] = normal[r];
  }
  at::Tensor data = at::zeros({nk, rows, cols}, at::kByte);
  for (size_t i = 0; i < frames.size(); ++i) {
    const SegFrame& fr = frames[i];
    const double kf = (offsets[i] - lo) / spacing;
    const int64_t k = std::llround(kf);
    if (std::abs(kf - static_cast<double>(k)) > 0.05)
      throw FileError(file, "a frame at " + std::to_string(offsets[i]) + " mm along the normal does not sit on the "
                                "slice grid (spacing " + std::to_string(spacing) + " mm)");
    for (int a = 0; a < 3; ++a) {
      const double in_plane = fr.position[a] - offsets[i] * normal[a] - (f0.position[a] - offsets[0] * normal[a]);
      if (std::abs(in_plane) > 0.01 * std::max(f0.row_spacing, f0.col_spacing) + 1e-3)
        throw FileError(file, "its frames are shifted within their planes (not one stack of slices)");
    }
    at::Tensor slice = at::from_blob(const_cast<Uint8*>(fr.pixels.data()), {rows, cols}, at::kByte);
    data[k].bitwise_or_(slice);
  }
  const Volume own{data, stack};
  out.mask = stack.same_grid(target, 1e-3) ? own : resample_labels(own, target);
  out.mask.data = out.mask.data.ne(0).to(at::kByte).contiguous();
  return out;
}

}  // namespace fratmae::io
