#include "io/dicom_series.h"

#include <gdcmDirectory.h>
#include <gdcmReader.h>
#include <gdcmScanner.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <itkGDCMImageIO.h>
#include <itkImageFileReader.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/text_util.h"
#include "io/dicom_lengths.h"
#include "io/itk_bridge.h"

namespace fs = std::filesystem;

namespace fratmae::io {

namespace {

const gdcm::Tag kSeriesUid(0x0020, 0x000e), kModality(0x0008, 0x0060),
    kSopClass(0x0008, 0x0016), kIpp(0x0020, 0x0032), kIop(0x0020, 0x0037),
    kFrameOfRef(0x0020, 0x0052), kSeriesDescription(0x0008, 0x103e),
    kNumberOfFrames(0x0028, 0x0008), kAcqDate(0x0008, 0x0022), kAcqTime(0x0008, 0x0032),
    kPixelData(0x7fe0, 0x0010);

std::vector<double> parse_numbers(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, '\\')) {
    item = trim(item);
    if (item.empty()) continue;
    char* end = nullptr;
    const double x = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0') return {};
    v.push_back(x);
  }
  return v;
}

bool has_dicm_magic(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char buf[132] = {};
  f.read(buf, 132);
  return f.gcount() == 132 && std::string(buf + 128, 4) == "DICM";
}

// Files whose name says they may be DICOM: .dcm/.ima/.img or no extension.
bool named_like_dicom(const fs::path& p) {
  const std::string ext = upper(p.extension().string());
  return ext.empty() || ext == ".DCM" || ext == ".IMA" || ext == ".IMG" ||
         std::all_of(ext.begin() + 1, ext.end(), [](char c) { return std::isdigit(c); });
}

bool is_non_image_modality(const std::string& m) {
  static const char* kinds[] = {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR",
                                "KO",       "REG",    "SEG",    "DOC"};
  for (const char* k : kinds)
    if (m == k) return true;
  return false;
}

std::string raw_value(const gdcm::DataSet& ds, const gdcm::Tag& t) {
  if (!ds.FindDataElement(t)) return {};
  const gdcm::DataElement& de = ds.GetDataElement(t);
  const gdcm::ByteValue* bv = de.GetByteValue();
  if (!bv) return {};
  return std::string(bv->GetPointer(), bv->GetLength());
}

// GDCM stops the whole process (a failed assertion) on a file cut inside its File Meta
// Information group, so check that the group is complete before GDCM sees the file.
void check_meta_header(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  unsigned char b[144] = {};
  f.read(reinterpret_cast<char*>(b), 144);
  if (f.gcount() < 132 || std::string(reinterpret_cast<char*>(b) + 128, 4) != "DICM") {
    check_dicom_lengths(p);  // a data set without the preamble
    return;
  }
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  const bool group_length = f.gcount() == 144 && b[132] == 0x02 && b[133] == 0 && b[134] == 0 &&
                            b[135] == 0 && b[136] == 'U' && b[137] == 'L';
  if (f.gcount() < 144 ||
      (group_length && size < 144 + (uint64_t(b[140]) | uint64_t(b[141]) << 8 |
                                     uint64_t(b[142]) << 16 | uint64_t(b[143]) << 24)))
    throw FileError(p, "truncated DICOM file (its meta header is incomplete)");
  check_dicom_lengths(p);
}

// GDCM and ITK read a slice whose pixel data was cut short with only a warning on the
// console (the missing bytes come back as zeros), so check the bytes are all there. We look
// for the Pixel Data element (7fe0,0010) whose declared length is the uncompressed size of
// the slice (a compressed or odd file is left to the decoder) and compare with the file size.
void check_pixel_data_complete(const fs::path& file, int64_t rows, int64_t cols, int64_t bits,
                               int64_t spp) {
  if (bits <= 0) return;
  const uint64_t expected = uint64_t(rows * cols * std::max<int64_t>(1, spp) * ((bits + 7) / 8));
  std::ifstream f(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string tag("\xe0\x7f\x10\x00", 4);
  auto u32 = [&](size_t o) {
    return uint64_t(uint8_t(bytes[o])) | uint64_t(uint8_t(bytes[o + 1])) << 8 |
           uint64_t(uint8_t(bytes[o + 2])) << 16 | uint64_t(uint8_t(bytes[o + 3])) << 24;
  };
  for (size_t o = bytes.find(tag); o != std::string::npos; o = bytes.find(tag, o + 1)) {
    if (o + 12 > bytes.size()) break;
    const bool explicit_vr = bytes[o + 4] == 'O' && (bytes[o + 5] == 'W' || bytes[o + 5] == 'B');
    const uint64_t len = explicit_vr ? u32(o + 8) : u32(o + 4);
    const uint64_t start = o + (explicit_vr ? 12 : 8);
    if (len != expected && len != expected + 1) continue;
    if (start + len > bytes.size())
      throw FileError(file, "truncated DICOM file: pixel data has " +
                                std::to_string(bytes.size() > start ? bytes.size() - start : 0) +
                                " of " + std::to_string(len) + " bytes");
    return;
  }
}

// Header of one file, pixel data skipped.
gdcm::File read_header(const fs::path& file) {
  gdcm::Reader r;
  r.SetFileName(file.c_str());
  if (!r.ReadUpToTag(kPixelData))
    throw FileError(file, "cannot parse the DICOM header (truncated or not a DICOM file?)");
  return r.GetFile();
}

}  // namespace

std::optional<DicomFileIdentity> dicom_file_identity(const fs::path& file) {
  const std::string ext = upper(file.extension().string());
  if (!has_dicm_magic(file) && ext != ".DCM" && ext != ".IMA") return std::nullopt;
  gdcm::Trace::WarningOff();
  check_meta_header(file);
  const gdcm::File f = read_header(file);
  const gdcm::DataSet& ds = f.GetDataSet();
  DicomFileIdentity id;
  id.series_uid = trim(raw_value(ds, kSeriesUid));
  id.modality = upper(trim(raw_value(ds, kModality)));
  id.sop_class_uid = trim(raw_value(ds, kSopClass));
  while (!id.series_uid.empty() && id.series_uid.back() == '\0') id.series_uid.pop_back();
  while (!id.sop_class_uid.empty() && id.sop_class_uid.back() == '\0') id.sop_class_uid.pop_back();
  return id;
}

std::string modality_in_words(const std::string& m) {
  if (m == "PT") return "a PET image";
  if (m == "CT") return "a CT image";
  if (m == "MR") return "an MR image";
  if (m == "SEG") return "a DICOM SEG (segmentation)";
  if (m == "RTSTRUCT") return "an RTSTRUCT (contours)";
  if (m == "SR") return "a structured report";
  if (m.empty()) return "a DICOM object without a Modality";
  return "a DICOM object of Modality " + m;
}

std::vector<DicomSeries> scan_dicom_folder(const fs::path& dir) {
  // GDCM prints warnings on the console for damaged files; we report those as errors ourselves.
  gdcm::Trace::WarningOff();
  gdcm::Trace::DebugOff();
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw FileError(dir, "no such folder");
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "is not a folder; give the folder holding one DICOM series");
  std::vector<std::string> candidates;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    if (name == "DICOMDIR" || (!name.empty() && name[0] == '.')) continue;
    candidates.push_back(entry.path().string());
  }
  if (ec) throw FileError(dir, "cannot list folder: " + ec.message());
  std::sort(candidates.begin(), candidates.end());
  for (const std::string& f : candidates) check_meta_header(f);

  gdcm::Scanner scanner;
  for (const gdcm::Tag& t : {kSeriesUid, kModality, kSopClass, kIpp, kIop, kFrameOfRef,
                             kSeriesDescription, kNumberOfFrames})
    scanner.AddTag(t);
  scanner.Scan(candidates);

  std::map<std::string, DicomSeries> by_uid;
  std::map<std::string, std::vector<std::pair<double, fs::path>>> positions;
  for (const std::string& f : candidates) {
    const fs::path path(f);
    if (!scanner.IsKey(f.c_str())) {
      if (named_like_dicom(path) || has_dicm_magic(path))
        throw FileError(path, "not a readable DICOM file (truncated or corrupt?)");
      continue;  // README, JSON, NIfTI... beside the series
    }
    auto value = [&](const gdcm::Tag& t) {
      const char* v = scanner.GetValue(f.c_str(), t);
      return v ? trim(v) : std::string();
    };
    const std::string uid = value(kSeriesUid);
    if (uid.empty()) throw FileError(path, "DICOM file has no SeriesInstanceUID (0020,000e) (truncated, or not an image?)");
    DicomSeries& s = by_uid[uid];
    if (s.series_uid.empty()) {
      s.folder = dir;
      s.series_uid = uid;
      s.modality = upper(value(kModality));
      s.description = value(kSeriesDescription);
      s.frame_of_reference_uid = value(kFrameOfRef);
      s.sop_class_uid = value(kSopClass);
      s.has_pixels = !is_non_image_modality(s.modality);
    }
    s.files.push_back(path);
    if (!s.has_pixels) continue;
    const std::string frames = value(kNumberOfFrames);
    if (!frames.empty() && std::atoi(frames.c_str()) > 1)
      throw FileError(path, "multi-frame DICOM (NumberOfFrames " + frames +
                                ") is not supported; convert it to single-frame slices or NIfTI");
    const std::vector<double> ipp = parse_numbers(value(kIpp)), iop = parse_numbers(value(kIop));
    if (ipp.size() != 3)
      throw FileError(path, "missing or invalid ImagePositionPatient (0020,0032)");
    if (iop.size() != 6)
      throw FileError(path, "missing or invalid ImageOrientationPatient (0020,0037)");
    const double n[3] = {iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5],
                         iop[0] * iop[4] - iop[1] * iop[3]};
    positions[uid].push_back({ipp[0] * n[0] + ipp[1] * n[1] + ipp[2] * n[2], path});
  }
  std::vector<DicomSeries> out;
  for (auto& [uid, s] : by_uid) {
    if (s.has_pixels) {
      auto& pos = positions[uid];
      std::stable_sort(pos.begin(), pos.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      s.files.clear();
      for (auto& [p, f] : pos) s.files.push_back(f);
    }
    out.push_back(std::move(s));
  }
  return out;
}

DicomSeries pick_series(const fs::path& dir, const std::optional<std::string>& uid,
                        const std::string& role) {
  std::vector<DicomSeries> all = scan_dicom_folder(dir);
  std::vector<DicomSeries> images;
  for (auto& s : all)
    if (s.has_pixels) images.push_back(s);
  if (uid) {
    for (auto& s : all)
      if (s.series_uid == *uid) {
        if (!s.has_pixels)
          throw FileError(dir, "series " + *uid + " is a " + s.modality + " object, not an image");
        return s;
      }
    throw FileError(dir, "no series with SeriesInstanceUID " + *uid);
  }
  if (images.empty()) throw FileError(dir, "contains no DICOM image series");
  if (images.size() > 1) {
    std::string list;
    for (auto& s : images)
      list += "\n  " + s.series_uid + "  " + s.modality + "  " + std::to_string(s.files.size()) +
              " files  " + s.description;
    const std::string flag = role == "PET" ? "--pet-series" : "--ct-series";
    throw FileError(dir, "contains " + std::to_string(images.size()) +
                             " image series; choose one with " + flag + " UID:" + list);
  }
  return images.front();
}

Volume read_series(const DicomSeries& series) {
  if (series.files.empty()) throw FileError(series.folder, "series has no files");
  using Image = itk::Image<float, 3>;
  const int64_t n = static_cast<int64_t>(series.files.size());
  std::vector<Volume> slices(n);
  for (int64_t i = 0; i < n; ++i) {
    auto io = itk::GDCMImageIO::New();
    auto reader = itk::ImageFileReader<Image>::New();
    reader->SetImageIO(io);
    reader->SetFileName(series.files[i].string());
    try {
      reader->Update();
    } catch (const itk::ExceptionObject& e) {
      throw FileError(series.files[i], std::string("cannot read DICOM pixel data (truncated or "
                                                   "corrupt file?): ") + e.GetDescription());
    }
    slices[i] = to_volume<float>(reader->GetOutput());
    const auto& dict = io->GetMetaDataDictionary();
    std::string bits_text, spp_text;
    itk::ExposeMetaData<std::string>(dict, "0028|0100", bits_text);
    itk::ExposeMetaData<std::string>(dict, "0028|0002", spp_text);
    check_pixel_data_complete(series.files[i], slices[i].geom.size[1], slices[i].geom.size[0],
                              std::atoi(bits_text.c_str()), std::atoi(spp_text.c_str()));
  }
  const Geometry& g0 = slices[0].geom;
  if (g0.size[2] != 1) throw FileError(series.files[0], "expected one slice per file");
  for (int64_t i = 1; i < n; ++i) {
    const Geometry& g = slices[i].geom;
    if (g.size != g0.size)
      throw FileError(series.files[i], "slice size " + std::to_string(g.size[0]) + " x " +
                                           std::to_string(g.size[1]) + " differs from the first slice's");
    for (int e = 0; e < 6; ++e)
      if (std::abs(g.direction[(e / 2) * 3 + e % 2] - g0.direction[(e / 2) * 3 + e % 2]) > 1e-4)
        throw FileError(series.files[i], "slice orientation differs from the first slice's");
    if (std::abs(g.spacing[0] - g0.spacing[0]) > 1e-4 || std::abs(g.spacing[1] - g0.spacing[1]) > 1e-4)
      throw FileError(series.files[i], "pixel spacing differs from the first slice's");
  }
  // Position of each slice along the normal (direction column 2).
  auto along_normal = [&](const Geometry& g) {
    return g.origin[0] * g0.dir(0, 2) + g.origin[1] * g0.dir(1, 2) + g.origin[2] * g0.dir(2, 2);
  };
  Geometry geom = g0;
  geom.size[2] = n;
  geom.spacing[2] = 1.0;
  if (n > 1) {
    const double first = along_normal(g0), last = along_normal(slices[n - 1].geom);
    const double mean_step = (last - first) / static_cast<double>(n - 1);
    // Whole-body PET is stitched from bed positions: real series have steps a few percent
    // off the mean (e.g. 3.19 and 3.29 mm in a 3.27 mm series). A missing slice doubles a
    // step; anything beyond 10% is refused.
    double worst = 0;
    for (int64_t i = 1; i < n; ++i) {
      const double step = along_normal(slices[i].geom) - along_normal(slices[i - 1].geom);
      if (std::abs(step) < 1e-6)
        throw FileError(series.files[i], "has the same position as " +
                                             series.files[i - 1].filename().string() +
                                             " (duplicate slice or several series mixed)");
      if (std::abs(step - mean_step) > 0.1 * std::abs(mean_step))
        throw FileError(series.files[i], "slice spacing is not uniform (" + std::to_string(step) +
                                             " mm here, " + std::to_string(mean_step) +
                                             " mm on average): missing slices?");
      worst = std::max(worst, std::abs(step - mean_step));
    }
    spdlog::debug("{}: slice spacing {:.4f} mm, largest deviation {:.3f} mm", series.folder.string(),
                  mean_step, worst);
    geom.spacing[2] = mean_step;
  }
  Volume v;
  v.geom = geom;
  std::vector<at::Tensor> planes;
  planes.reserve(n);
  for (auto& s : slices) planes.push_back(s.data);  // each (1, rows, cols)
  v.data = at::cat(planes, 0).contiguous();          // (n, rows, cols)
  v.geom.validate(series.folder.string());
  return v;
}

PetHeader read_pet_header(const DicomSeries& series) {
  if (series.files.empty()) throw FileError(series.folder, "series has no files");
  const fs::path& first = series.files.front();
  const gdcm::File file = read_header(first);
  const gdcm::DataSet& ds = file.GetDataSet();
  auto str = [&](uint16_t g, uint16_t e) { return trim(raw_value(ds, gdcm::Tag(g, e))); };
  auto num = [&](const gdcm::DataSet& d, uint16_t g, uint16_t e, const char* name) {
    const std::string v = trim(raw_value(d, gdcm::Tag(g, e)));
    try {
      return parse_ds(v, name);
    } catch (const Error& err) {
      throw FileError(first, err.what());
    }
  };
  PetHeader h;
  h.modality = upper(str(0x0008, 0x0060));
  h.units = str(0x0054, 0x1001);
  h.decay_correction = str(0x0054, 0x1102);
  std::stringstream ci(str(0x0028, 0x0051));
  for (std::string item; std::getline(ci, item, '\\');) h.corrected_image.push_back(trim(item));
  h.patient_weight_kg = num(ds, 0x0010, 0x1030, "PatientWeight (0010,1030)");
  h.patient_size_m = num(ds, 0x0010, 0x1020, "PatientSize (0010,1020)");
  h.patient_sex = str(0x0010, 0x0040);
  h.series_date = str(0x0008, 0x0021);
  h.series_time = str(0x0008, 0x0031);
  h.ge_post_injection_datetime = str(0x0009, 0x100d);
  h.philips_suv_scale = num(ds, 0x7053, 0x1000, "Philips SUV Scale Factor (7053,1000)");
  h.philips_activity_scale =
      num(ds, 0x7053, 0x1009, "Philips Activity Concentration Scale Factor (7053,1009)");
  const gdcm::Tag radio_seq(0x0054, 0x0016);
  if (ds.FindDataElement(radio_seq)) {
    gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(radio_seq).GetValueAsSQ();
    if (sq && sq->GetNumberOfItems() > 0) {
      const gdcm::DataSet& item = sq->GetItem(1).GetNestedDataSet();
      h.total_dose_bq = num(item, 0x0018, 0x1074, "RadionuclideTotalDose (0018,1074)");
      h.half_life_s = num(item, 0x0018, 0x1075, "RadionuclideHalfLife (0018,1075)");
      h.radiopharmaceutical = trim(raw_value(item, gdcm::Tag(0x0018, 0x0031)));
      h.radiopharm_start_time = trim(raw_value(item, gdcm::Tag(0x0018, 0x1072)));
      h.radiopharm_start_datetime = trim(raw_value(item, gdcm::Tag(0x0018, 0x1078)));
    }
  }
  // Acquisition times of every slice (the earliest may be the scan start).
  gdcm::Scanner scanner;
  scanner.AddTag(kAcqDate);
  scanner.AddTag(kAcqTime);
  std::vector<std::string> names;
  for (const auto& f : series.files) names.push_back(f.string());
  scanner.Scan(names);
  for (const std::string& f : names) {
    const char* d = scanner.GetValue(f.c_str(), kAcqDate);
    const char* t = scanner.GetValue(f.c_str(), kAcqTime);
    h.acquisition.emplace_back(d ? trim(d) : "", t ? trim(t) : "");
  }
  return h;
}

SeriesInfo read_series_info(const DicomSeries& series) {
  const gdcm::File file = read_header(series.files.front());
  const gdcm::DataSet& ds = file.GetDataSet();
  SeriesInfo info;
  info.manufacturer = trim(raw_value(ds, gdcm::Tag(0x0008, 0x0070)));
  info.patient_age = trim(raw_value(ds, gdcm::Tag(0x0010, 0x1010)));
  info.study_date = trim(raw_value(ds, gdcm::Tag(0x0008, 0x0020)));
  return info;
}

}  // namespace fratmae::io
