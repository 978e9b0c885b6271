#include "io/convert.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "core/provenance.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "fratmae/version.h"
#include "io/dicom_seg.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "io/resample.h"
#include "io/rtstruct.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

void ConvertConfig::validate() const {
  if (pet_dicom.empty() == pet.empty())
    throw Error("convert: give exactly one PET input: --pet PATH (a DICOM series' folder or one of its files, "
                "converted to SUV, or a NIfTI/NRRD/MHA already in SUV)");
  if (!ct_dicom.empty() && !ct.empty())
    throw Error("convert: give at most one CT input: --ct PATH (a DICOM folder or file, or an image in HU)");
  if (out.empty()) throw Error("convert: --out FOLDER is required");
  if (pet_series && pet_dicom.empty()) throw Error("convert: --pet-series needs a DICOM PET input");
  if (ct_series && ct_dicom.empty()) throw Error("convert: --ct-series needs a DICOM CT input");
  if (!seg_segments.empty() && seg_dicom.empty()) throw Error("convert: --segment needs --seg-dicom FILE");
  if (!seg_dicom.empty() && !rtstruct.empty())
    throw Error("convert: give the labels once: --seg-dicom FILE or --rtstruct FILE --roi NAME, not both");
  if (!roi.empty() && rtstruct.empty()) throw Error("convert: --roi needs --rtstruct FILE");
}

namespace {

// One input (`path` given as --pet or --ct) resolved in place; `want`: "PT" or "CT".
void resolve_input(fs::path& path, fs::path& dicom, std::optional<std::string>& series, const std::string& want,
                   const std::string& flag) {
  if (path.empty()) return;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    dicom = path;
    path.clear();
    return;
  }
  if (!fs::exists(path, ec)) throw FileError(path, "does not exist (" + flag + ")");
  const std::optional<DicomFileIdentity> id = dicom_file_identity(path);
  if (!id) return;  // an image file
  if (id->modality != want)
    throw FileError(path, "is " + modality_in_words(id->modality) + ", not " + modality_in_words(want) + " (" + flag +
                              ")" + (id->modality == "CT" ? ": give it as --ct" : id->modality == "PT" ? ": give it as --pet" : ""));
  if (id->series_uid.empty()) throw FileError(path, "has no SeriesInstanceUID (0020,000e)");
  if (series && *series != id->series_uid)
    throw FileError(path, "belongs to series " + id->series_uid + ", not the " + flag + "-series given (" + *series + ")");
  dicom = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  series = id->series_uid;
  path.clear();
}

}  // namespace

ConvertConfig ConvertConfig::resolved() const {
  ConvertConfig r = *this;
  if (!r.pet.empty() && !r.pet_dicom.empty())
    throw Error("convert: give exactly one PET input: --pet PATH or --pet-dicom FOLDER, not both");
  if (!r.ct.empty() && !r.ct_dicom.empty())
    throw Error("convert: give at most one CT input: --ct PATH or --ct-dicom FOLDER, not both");
  resolve_input(r.pet, r.pet_dicom, r.pet_series, "PT", "--pet");
  resolve_input(r.ct, r.ct_dicom, r.ct_series, "CT", "--ct");
  return r;
}

json ConvertConfig::to_json() const {
  json j;
  j["pet_dicom"] = pet_dicom.string();
  j["pet"] = pet.string();
  j["pet_series"] = pet_series ? json(*pet_series) : json(nullptr);
  j["ct_dicom"] = ct_dicom.string();
  j["ct"] = ct.string();
  j["ct_series"] = ct_series ? json(*ct_series) : json(nullptr);
  j["seg_dicom"] = seg_dicom.string();
  j["seg_segments"] = seg_segments;
  j["rtstruct"] = rtstruct.string();
  j["roi"] = roi;
  j["out"] = out.string();
  j["overwrite"] = overwrite;
  j["allow_different_frames"] = allow_different_frames;
  return j;
}

namespace {

json geometry_json(const Geometry& g) {
  return {{"size", g.size},
          {"spacing_mm", g.spacing},
          {"origin_lps_mm", g.origin},
          {"direction", g.direction},
          {"orientation", g.orientation_code()}};
}

json value_range(const Volume& v) {
  return {{"min", v.data.min().item<double>()},
          {"max", v.data.max().item<double>()},
          {"mean", v.data.to(at::kDouble).mean().item<double>()}};
}

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Corners of a volume's bounding box along each LPS axis.
std::array<std::pair<double, double>, 3> extent(const Geometry& g) {
  std::array<std::pair<double, double>, 3> e;
  for (int r = 0; r < 3; ++r) e[r] = {1e300, -1e300};
  for (int c = 0; c < 8; ++c) {
    std::array<double, 3> ijk{(c & 1) ? g.size[0] - 1.0 : 0.0, (c & 2) ? g.size[1] - 1.0 : 0.0,
                              (c & 4) ? g.size[2] - 1.0 : 0.0};
    auto p = g.index_to_physical(ijk);
    for (int r = 0; r < 3; ++r) e[r] = {std::min(e[r].first, p[r]), std::max(e[r].second, p[r])};
  }
  return e;
}

bool overlaps(const Geometry& a, const Geometry& b) {
  auto ea = extent(a), eb = extent(b);
  for (int r = 0; r < 3; ++r)
    if (ea[r].second < eb[r].first || eb[r].second < ea[r].first) return false;
  return true;
}

// CT HU values are integers: store them as int16 when that is exact.
Volume compact_ct(const Volume& ct) {
  at::Tensor d = ct.data;
  if (at::equal(d, d.round()) && d.min().item<double>() >= -32768 && d.max().item<double>() <= 32767)
    return Volume{d.to(at::kShort), ct.geom};
  return ct;
}

}  // namespace

ConvertedStudy convert_study(const ConvertConfig& given) {
  const ConvertConfig cfg = given.resolved();
  cfg.validate();
  ConvertedStudy s;
  json& study = s.study;
  study["fratmae_version"] = FRATMAE_VERSION;
  study["config"] = cfg.to_json();
  study["provenance"] = provenance();
  study["inputs"] = json::object();
  for (const auto& [role, path] : {std::pair<const char*, fs::path>{"pet", given.pet.empty() ? given.pet_dicom : given.pet},
                                   {"ct", given.ct.empty() ? given.ct_dicom : given.ct}})
    if (!path.empty()) study["inputs"][role] = input_record(path);
  std::string pet_frame;

  // ---- PET -> SUVbw
  if (!cfg.pet_dicom.empty()) {
    DicomSeries series = pick_series(cfg.pet_dicom, cfg.pet_series, "PET");
    if (series.modality != "PT")
      throw FileError(cfg.pet_dicom, "series " + series.series_uid + " has Modality " +
                                         (series.modality.empty() ? "(none)" : series.modality) +
                                         ", not PT: this is not a PET series" +
                                         (series.modality == "CT" ? " (give it as --ct)" : ""));
    spdlog::info("PET: {} slices of series {}", series.files.size(), series.series_uid);
    const PetHeader header = read_pet_header(series);
    SuvResult suv;
    try {
      suv = compute_suv(header);
    } catch (const Error& e) {
      throw FileError(series.files.front(), e.what());
    }
    Volume raw = read_series(series);
    require_finite(raw, cfg.pet_dicom);
    s.suv = Volume{(raw.data.to(at::kDouble) * suv.suvbw_factor).to(at::kFloat), raw.geom};
    const SeriesInfo info = read_series_info(series);
    pet_frame = series.frame_of_reference_uid;
    s.pet_series = series;
    study["pet"] = {
        {"source", "dicom"},
        {"folder", cfg.pet_dicom.string()},
        {"series_uid", series.series_uid},
        {"series_description", series.description},
        {"frame_of_reference_uid", series.frame_of_reference_uid},
        {"manufacturer", info.manufacturer},
        {"num_slices", series.files.size()},
        {"units", header.units},
        {"decay_correction", header.decay_correction},
        {"radiopharmaceutical", header.radiopharmaceutical},
        {"patient_weight_kg", optional_number(header.patient_weight_kg)},
        {"patient_size_m", optional_number(header.patient_size_m)},
        {"patient_sex", header.patient_sex},
        {"patient_age", info.patient_age},
        {"injected_dose_bq", optional_number(header.total_dose_bq)},
        {"half_life_s", optional_number(header.half_life_s)},
        {"injection_datetime", header.radiopharm_start_datetime},
        {"injection_time", header.radiopharm_start_time},
        {"series_date", header.series_date},
        {"series_time", header.series_time},
        {"decay_time_s", optional_number(suv.decay_time_s)},
        {"suv_factor", suv.suvbw_factor},
        {"sul_factor", optional_number(suv.sul_factor)},
        {"suv_method", suv.method},
        {"geometry", geometry_json(s.suv.geom)},
    };
  } else {
    s.suv = read_image(cfg.pet);
    require_finite(s.suv, cfg.pet);
    study["pet"] = {{"source", "image"},
                    {"file", cfg.pet.string()},
                    {"units", "SUVbw (as given)"},
                    {"suv_factor", 1.0},
                    {"geometry", geometry_json(s.suv.geom)}};
  }
  study["pet"]["value_range"] = value_range(s.suv);
  const double suv_max = study["pet"]["value_range"]["max"];
  if (suv_max > 500 || study["pet"]["value_range"]["min"].get<double>() < -10)
    spdlog::warn("PET values range to {:.1f}: is this really SUV (g/mL)?", suv_max);

  // ---- CT
  if (!cfg.ct_dicom.empty() || !cfg.ct.empty()) {
    Volume ct;
    if (!cfg.ct_dicom.empty()) {
      DicomSeries series = pick_series(cfg.ct_dicom, cfg.ct_series, "CT");
      if (series.modality != "CT")
        throw FileError(cfg.ct_dicom, "series " + series.series_uid + " has Modality " +
                                          (series.modality.empty() ? "(none)" : series.modality) +
                                          ", not CT");
      if (!pet_frame.empty() && !series.frame_of_reference_uid.empty() &&
          series.frame_of_reference_uid != pet_frame && !cfg.allow_different_frames)
        throw FileError(cfg.ct_dicom,
                        "CT FrameOfReferenceUID " + series.frame_of_reference_uid +
                            " differs from the PET's " + pet_frame +
                            ": they were not acquired in one coordinate system, so resampling one "
                            "onto the other is meaningless. Register them first, or pass "
                            "--allow-different-frames if you know they are aligned");
      spdlog::info("CT: {} slices of series {}", series.files.size(), series.series_uid);
      ct = read_series(series);
      study["ct"] = {{"source", "dicom"},
                     {"folder", cfg.ct_dicom.string()},
                     {"series_uid", series.series_uid},
                     {"series_description", series.description},
                     {"frame_of_reference_uid", series.frame_of_reference_uid}};
    } else {
      ct = read_image(cfg.ct);
      study["ct"] = {{"source", "image"}, {"file", cfg.ct.string()}};
    }
    const fs::path ct_src = cfg.ct_dicom.empty() ? cfg.ct : cfg.ct_dicom;
    require_finite(ct, ct_src);
    if (!overlaps(ct.geom, s.suv.geom))
      throw FileError(ct_src, "CT and PET do not overlap in space: different frames of reference, "
                              "or not the same study?");
    study["ct"]["units"] = "HU";
    study["ct"]["geometry"] = geometry_json(ct.geom);
    study["ct"]["value_range"] = value_range(ct);
    s.ct_res = resample_ct_to_pet(ct, s.suv.geom);
    s.ct = compact_ct(ct);
    study["ct_res"] = {{"method", "linear interpolation onto the PET grid, -1024 HU outside"},
                       {"geometry", geometry_json(s.ct_res->geom)}};
  }

  // ---- Labels from a DICOM SEG, onto the PET grid
  if (!cfg.seg_dicom.empty()) {
    const DicomSegLabels labels =
        read_dicom_seg(cfg.seg_dicom, s.suv.geom, pet_frame, cfg.seg_segments, cfg.allow_different_frames);
    // Drawn on this study's PET or CT (when they came from DICOM and the SEG says what it references).
    std::vector<std::string> ours;
    for (const char* role : {"pet", "ct"})
      if (study.contains(role) && study[role].value("source", "") == "dicom")
        ours.push_back(study[role].value("series_uid", ""));
    if (!ours.empty() && !labels.referenced_series_uid.empty() &&
        std::find(ours.begin(), ours.end(), labels.referenced_series_uid) == ours.end() && !cfg.allow_different_frames)
      throw FileError(cfg.seg_dicom, "references series " + labels.referenced_series_uid +
                                         ", which is neither the PET's nor the CT's given: a segmentation of "
                                         "another series (--allow-different-frames accepts it)");
    json segments = json::array();
    for (const DicomSegSegment& d : labels.segments)
      segments.push_back({{"number", d.number}, {"label", d.label}, {"category", d.category}, {"type", d.type},
                          {"frames", d.frames}});
    const int64_t voxels = labels.mask.data.sum().item<int64_t>();
    if (voxels == 0)
      spdlog::warn("{}: the segments read ({}) mark no voxel of the PET grid", cfg.seg_dicom.string(),
                   json(labels.used).dump());
    study["seg"] = {{"source", "dicom-seg"},
                    {"file", cfg.seg_dicom.string()},
                    {"series_uid", labels.series_uid},
                    {"referenced_series_uid", labels.referenced_series_uid},
                    {"frame_of_reference_uid", labels.frame_of_reference_uid},
                    {"segments", segments},
                    {"used", labels.used},
                    {"method", "frames placed by Image Position (Patient), nearest neighbour onto the PET grid, "
                               "segments merged into label 1"},
                    {"voxels", voxels},
                    {"volume_ml", static_cast<double>(voxels) * s.suv.geom.voxel_volume_mm3() / 1000.0}};
    spdlog::info("SEG: {} segment(s) of {}, {} voxels on the PET grid", labels.used.size(), labels.segments.size(),
                 voxels);
    s.seg = labels.mask;
  }

  // ---- Labels from an RTSTRUCT ROI: rasterised on the series it was drawn on, then onto the PET grid
  if (!cfg.rtstruct.empty()) {
    const std::string drawn_on = rtstruct_referenced_series(cfg.rtstruct);
    const bool on_ct = s.ct && study.contains("ct") && study["ct"].value("source", "") == "dicom" &&
                       !drawn_on.empty() && study["ct"].value("series_uid", "") == drawn_on;
    const Geometry& grid = on_ct ? s.ct->geom : s.suv.geom;
    const std::string frame = on_ct ? study["ct"].value("frame_of_reference_uid", "") : pet_frame;
    const RtStructLabels labels = rasterise_rtstruct(cfg.rtstruct, cfg.roi, grid, frame, cfg.allow_different_frames);
    const Volume mask = on_ct ? resample_labels(labels.mask, s.suv.geom) : labels.mask;
    const int64_t voxels = mask.data.ne(0).sum().item<int64_t>();
    if (labels.skipped_points + labels.skipped_open > 0)
      spdlog::warn("{}: ROI {}: {} point and {} open contour(s) enclose nothing and were skipped",
                   cfg.rtstruct.string(), labels.roi.name, labels.skipped_points, labels.skipped_open);
    if (voxels == 0) spdlog::warn("{}: ROI {} marks no voxel of the PET grid", cfg.rtstruct.string(), labels.roi.name);
    study["seg"] = {{"source", "rtstruct"},
                    {"file", cfg.rtstruct.string()},
                    {"roi", {{"number", labels.roi.number}, {"name", labels.roi.name}}},
                    {"rois", describe_rois(rtstruct_rois(cfg.rtstruct))},
                    {"referenced_series_uid", drawn_on},
                    {"rasterised_on", on_ct ? "CT grid, then nearest neighbour onto the PET grid" : "PET grid"},
                    {"method", "closed planar contours filled at voxel centres (even-odd), XOR per slice"},
                    {"contours_filled", labels.contours_filled},
                    {"skipped_point_contours", labels.skipped_points},
                    {"skipped_open_contours", labels.skipped_open},
                    {"slices", labels.slices},
                    {"voxels", voxels},
                    {"volume_ml", static_cast<double>(voxels) * s.suv.geom.voxel_volume_mm3() / 1000.0}};
    spdlog::info("RTSTRUCT: ROI {} ({} contours on {} slices), {} voxels on the PET grid", labels.roi.name,
                 labels.contours_filled, labels.slices, voxels);
    s.seg = Volume{mask.data.ne(0).to(at::kByte), mask.geom};
  }
  return s;
}

void write_study(const ConvertedStudy& s, const ConvertConfig& cfg) {
  StagedOutputs out(cfg.out, cfg.overwrite);
  for (const fs::path& in : {cfg.pet, cfg.ct, cfg.pet_dicom, cfg.ct_dicom, cfg.seg_dicom, cfg.rtstruct})
    if (!in.empty()) out.protect_input(in);
  for (const char* name : {"SUV.nii.gz", "CT.nii.gz", "CTres.nii.gz", "SEG.nii.gz", "study.json"}) out.remove_stale(name);
  write_image(s.suv, out.stage("SUV.nii.gz"));
  if (s.ct) write_image(*s.ct, out.stage("CT.nii.gz"));
  if (s.ct_res) write_image(*s.ct_res, out.stage("CTres.nii.gz"));
  if (s.seg) write_image(*s.seg, out.stage("SEG.nii.gz"), "labels from a DICOM SEG");
  out.write_text("study.json", s.study.dump(2) + "\n");
  out.commit();
}

}  // namespace fratmae::io
