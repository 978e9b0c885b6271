#include "io/predict.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "core/device.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/provenance.h"
#include "core/torch_compat.h"
#include "data/crops.h"
#include "data/normalize.h"
#include "data/preprocess.h"
#include "eval/lesion_stats.h"
#include "eval/reference_floors.h"
#include "infer/cache_eval.h"
#include "io/convert.h"
#include "io/dicom_seg.h"
#include "io/dicom_send.h"
#include "io/image_io.h"
#include "io/report_html.h"
#include "io/resample.h"
#include "train/finetuner.h"
#include "viz/mip.h"
#include "viz/png.h"
#include "fratmae/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

void PredictConfig::validate() const {
  if (model.empty() == floor.empty())
    throw Error("predict: give --model RUN (a fine-tuning run) or --floor METHOD (suv2.5, suv4.0, suvmax41)");
  if (!floor.empty()) {
    const auto& f = eval::reference_floors();
    if (std::find(f.begin(), f.end(), floor) == f.end())
      throw Error("predict: unknown --floor '" + floor + "' (suv2.5, suv4.0, suvmax41)");
  }
  if (pet.empty() && input.empty()) throw Error("predict: give --pet (one study) or --input FOLDER (many studies)");
  if (out.empty()) throw Error("predict: --out FOLDER is required");
  check_device(device, "predict");
  if (!(overlap < 1)) throw Error("predict: --overlap must lie in [0, 1)");
  if (batch < 1) throw Error("predict: --batch must be at least 1");
  if (!(report_max_mb >= 0)) throw Error("predict: --report-max-mb must be 0 or more");
  if (!send.empty()) DicomPeer::parse(send);  // a malformed node is refused before any work
}

namespace {

// Peak resident memory of this process so far (VmHWM), MiB; 0 where /proc is missing.
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// Canonical spacing (H, W, D) of a canonical volume: H runs along ITK's k, W along j, D along i.
std::array<double, 3> canonical_spacing(const Geometry& g) { return {g.spacing[2], g.spacing[1], g.spacing[0]}; }

}  // namespace

namespace {

// The grid with half the voxels along each axis (twice the spacing), covering the same box.
Geometry halved(const Geometry& g) {
  Geometry h = g;
  for (int a = 0; a < 3; ++a) {
    h.size[a] = (g.size[a] + 1) / 2;
    h.spacing[a] = 2 * g.spacing[a];
  }
  const auto o = g.index_to_physical({0.5, 0.5, 0.5});  // the first new voxel's centre
  h.origin = {o[0], o[1], o[2]};
  return h;
}

// report.html: CT (gray), PET (hot) and the mask (green) on the PET grid in NiiVue, the lesion
// table and the MIP (io/report_html.h).
// Volumes above max_mb (compressed, together) are embedded at half the resolution along each axis.
void write_report(StagedOutputs& out, const fs::path& mip, const ConvertedStudy& study, const Volume& mask,
                  const json& lesions, const json& record, const std::string& made_by, double max_mb) {
  StudyReport r;
  const json& inputs = record.value("inputs", json::object());
  // The PET's last two path components: "STS_002/SUV.nii.gz", "PET/image".
  const fs::path pet_path = inputs.contains("pet") ? fs::path(inputs["pet"].value("path", std::string())) : fs::path();
  const std::string pet_name =
      pet_path.empty() ? std::string() : (pet_path.parent_path().filename() / pet_path.filename()).string();
  r.title = "fratmae predict: " + (pet_name.empty() ? std::string("study") : pet_name);
  r.facts["made by"] = made_by;
  r.facts["written"] = record.at("provenance").value("created", std::string());
  r.facts["grid"] = fmt::format("{} x {} x {} voxels of {:.2f} x {:.2f} x {:.2f} mm", study.suv.geom.size[0],
                                study.suv.geom.size[1], study.suv.geom.size[2], study.suv.geom.spacing[0],
                                study.suv.geom.spacing[1], study.suv.geom.spacing[2]);
  r.lesions = lesions;
  r.mip_png = read_file(mip);
  auto volumes = [&](bool half) {
    const Geometry g = half ? halved(study.suv.geom) : study.suv.geom;
    auto on = [&](const Volume& v, Interpolation i, double outside) { return half ? resample(v, g, i, outside) : v; };
    std::vector<ReportVolume> v;
    if (study.ct_res) v.push_back(ct_volume(nifti_gz_bytes(on(*study.ct_res, Interpolation::kLinear, -1024.0))));
    v.push_back(pet_volume(nifti_gz_bytes(on(study.suv, Interpolation::kLinear, 0.0)), study.ct_res.has_value()));
    v.push_back(mask_volume("SEG.nii.gz", nifti_gz_bytes(on(mask, Interpolation::kNearest, 0.0))));
    return v;
  };
  r.volumes = volumes(false);
  double bytes = 0;
  for (const ReportVolume& v : r.volumes) bytes += static_cast<double>(v.nifti.size());
  if (bytes > max_mb * 1e6) {
    r.volumes = volumes(true);
    r.note = fmt::format("The volumes ({:.0f} MB compressed) are embedded at half the resolution along each axis so the page "
                         "stays small enough to open; the lesion table and SEG.nii.gz are at the full resolution.",
                         bytes / 1e6);
  }
  const fs::path bundle = niivue_bundle();
  if (bundle.empty()) spdlog::warn("predict: report.html has no viewer: the NiiVue bundle is not installed (scripts/install-deps.sh)");
  out.write_text("report.html", study_report_html(r, bundle.empty() ? std::string() : read_file(bundle)));
}

// SEG.nii.gz, lesions.json and mip.png of a canonical mask on the study's PET grid.
void write_segmentation(const PredictConfig& cfg, StagedOutputs& out, const at::Tensor& mask_c,
                        const ConvertedStudy& study, const Volume& suv_c, const Volume* ct_c,
                        const std::array<double, 3>& spacing, json& record, const std::string& description) {
  const Volume mask = from_canonical(mask_c, study.suv.geom);
  const eval::LesionSummary lesions = eval::lesion_statistics(mask, study.suv);
  write_image(mask, out.stage("SEG.nii.gz"), description);
  // A DICOM PET gets its lesions back as a DICOM SEG of the same study (for PACS), when there are any.
  if (study.pet_series) {
    if (lesions.count() > 0) {
      DicomSegWriteInfo info;
      info.algorithm_version = FRATMAE_VERSION;
      info.content_description = description;
      const fs::path staged = out.stage("SEG.dcm");
      const int64_t frames = write_dicom_seg(mask.data, mask.geom, *study.pet_series, staged, info);
      record["dicom_seg"] = {{"file", "SEG.dcm"}, {"frames", frames}, {"segment", "Lesion (SCT 52988006)"},
                             {"referenced_series_uid", study.pet_series->series_uid}};
      // Stored before anything is committed: a failed store leaves no outputs, like any failure.
      if (!cfg.send.empty()) {
        const DicomPeer peer = DicomPeer::parse(cfg.send);
        send_dicom(staged, peer);
        record["dicom_seg"]["sent_to"] = peer.to_string();
        spdlog::info("predict: SEG.dcm stored to {}", peer.to_string());
      }
    } else {
      if (!cfg.send.empty()) spdlog::info("predict: no lesion found, so nothing was sent to {}", cfg.send);
      record["dicom_seg"] = {{"file", nullptr},
                             {"reason", "no lesion found: an empty DICOM Segmentation is not a valid object, so none "
                                        "was written"}};
    }
  }
  json lj = lesions.to_json();
  lj["provenance"] = record.at("provenance");
  lj["units"] = {{"volume", "mL"}, {"suv", "g/mL (SUVbw)"}, {"centroid", "mm, LPS (ITK/DICOM patient coordinates)"}};
  out.write_text("lesions.json", lj.dump(2) + "\n");
  // 2 mm per pixel for a whole body (about 1,000 pixels head to feet); finer for a smaller field
  // of view, so that its longer side still gets at least 600 pixels.
  viz::MipOptions mo;
  const double extent_mm = std::max(static_cast<double>(suv_c.data.size(1)) * spacing[1],
                                    static_cast<double>(suv_c.data.size(2)) * spacing[2]);
  mo.mm_per_pixel = std::min(2.0, extent_mm / 600.0);
  const at::Tensor pic =
      viz::render_mip(suv_c.data, ct_c ? ct_c->data : at::Tensor(), mask_c, {spacing[1], spacing[2]}, mo);
  const fs::path mip = out.stage("mip.png");
  viz::write_png(mip, pic);
  if (cfg.report) write_report(out, mip, study, mask, lj, record, description, cfg.report_max_mb);
  record["lesions"] = lesions.count();
  record["mtv_ml"] = lesions.mtv_ml;
  record["tlg"] = lesions.tlg;
  spdlog::info("predict: {} lesion(s), MTV {:.1f} mL, TLG {:.1f}", lesions.count(), lesions.mtv_ml, lesions.tlg);
}

// Shortest head-to-feet extent taken as a whole-body scan for staging (mm).
constexpr double kWholeBodyMinMm = 600.0;

// Every file a prediction may write (a segmentation or a staging model, a floor).
constexpr const char* kPredictionFiles[] = {"SEG.nii.gz", "SEG.dcm", "probability.nii.gz", "lesions.json", "mip.png",
                                            "report.html", "prediction.json", "stage.json"};

// The SEG's own description (NIfTI keeps 79 characters): what made it.
std::string model_description(const json& source) {
  const std::string run = fs::path(source.value("run", std::string())).filename().string();
  const std::string sha = source.value("weights_sha256", std::string());
  std::string d = std::string("fratmae ") + FRATMAE_VERSION + " step " + std::to_string(source.value("step", int64_t{-1})) +
                  (sha.empty() ? "" : " sha256:" + sha.substr(0, 12)) + " " + run;
  return d.substr(0, 79);
}

json input_records(const PredictConfig& cfg) {
  json j = {{"pet", input_record(cfg.pet)}};
  if (!cfg.ct.empty()) j["ct"] = input_record(cfg.ct);
  return j;
}

ConvertedStudy read_study(const PredictConfig& cfg) {
  ConvertConfig cc;  // a folder, a DICOM file or an image each (ConvertConfig::resolved)
  cc.pet = cfg.pet;
  cc.ct = cfg.ct;
  cc.out = cfg.out;
  ConvertedStudy study = convert_study(cc);
  if (!cfg.ct.empty() && !study.ct_res) throw FileError(cfg.ct, "no CT could be read");
  if (!cfg.send.empty() && !study.pet_series)
    throw FileError(cfg.pet, "--send stores a DICOM SEG of the PET's study, which needs a DICOM PET (this is an image file)");
  study.ct.reset();  // only the CT resampled onto the PET grid is used
  return study;
}

// The study of a prediction, read after `out` has dropped the files of an earlier prediction and
// protected the inputs: the converted study and its SUV and CT (on the PET grid) in canonical order.
struct StudyInputs {
  ConvertedStudy study;
  Volume suv_c;
  std::optional<Volume> ct_c;
};

StudyInputs read_inputs(const PredictConfig& cfg, StagedOutputs& out) {
  for (const char* name : kPredictionFiles) out.remove_stale(name);  // of an earlier prediction
  out.protect_input(cfg.pet);
  if (!cfg.ct.empty()) out.protect_input(cfg.ct);
  StudyInputs in{read_study(cfg), {}, std::nullopt};
  in.suv_c = to_canonical(in.study.suv);
  if (in.study.ct_res) in.ct_c = to_canonical(*in.study.ct_res);
  return in;
}

json predict_floor(const PredictConfig& cfg, std::chrono::steady_clock::time_point t0) {
  StagedOutputs out(cfg.out, cfg.overwrite);
  const auto [study, suv_c, ct_c] = read_inputs(cfg, out);
  const at::Tensor body = ct_c ? eval::body_mask(ct_c->data) : at::Tensor();
  const at::Tensor mask = eval::floor_segmentation(cfg.floor, suv_c.data, body);
  json record = {{"provenance", provenance()},
                 {"floor", cfg.floor},
                 {"task", "seg"},
                 {"inputs", input_records(cfg)},
                 {"body", ct_c ? "CT >= -500 HU, air around the patient removed" : "whole volume (no CT given)"},
                 {"grid", {{"size", study.suv.geom.size}, {"spacing_mm", study.suv.geom.spacing}}}};
  write_segmentation(cfg, out, mask, study, suv_c, ct_c ? &*ct_c : nullptr, canonical_spacing(suv_c.geom), record,
                     std::string("fratmae ") + FRATMAE_VERSION + " floor " + cfg.floor);
  record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record["peak_rss_mib"] = peak_rss_mib();
  out.write_text("prediction.json", record.dump(2) + "\n");
  out.commit();
  return record;
}

}  // namespace

json predict_study(const PredictConfig& cfg) {
  cfg.validate();
  if (!cfg.floor.empty()) return predict_floor(cfg, std::chrono::steady_clock::now());
  train::DownstreamModel dm = train::load_finetuned(cfg.model, cfg.device);
  return predict_study(cfg, dm);
}

json predict_study(const PredictConfig& cfg, train::DownstreamModel& dm) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  if (!cfg.floor.empty()) return predict_floor(cfg, t0);
  const json& rc = dm.run_config;
  const data::CacheSettings trained_on = data::CacheSettings::from_json(rc.at("cache").at("settings"));
  const data::NormalizeConfig& norm = trained_on.normalize;
  if (cfg.ct.empty() && dm.modalities != "pet")
    throw FileError(cfg.model, std::string("was fine-tuned on ") + (dm.modalities == "ct" ? "CT" : "PET and CT") +
                                   " (--modalities " + dm.modalities + "): give --ct" +
                                   (dm.modalities == "petct" ? ", or use a PET-only model (finetune --modalities pet)" : ""));

  StagedOutputs out(cfg.out, cfg.overwrite);
  const auto [study, suv_c, ct_c] = read_inputs(cfg, out);
  // Without a CT (a PET-only model) the network's CT input is air; it does not read it.
  const at::Tensor ct_hu = ct_c ? ct_c->data : at::full_like(suv_c.data, -1024.0);
  const auto spacing = canonical_spacing(suv_c.geom);
  const at::Tensor pet_n = data::as_stored(data::normalize_pet(suv_c.data, norm));
  const at::Tensor ct_n = data::as_stored(data::normalize_ct(ct_hu, norm));
  const torch::Device device(cfg.device);

  json record = {{"provenance", provenance()},
                 {"model", dm.source},
                 {"task", dm.task},
                 {"modalities", dm.modalities},
                 {"inputs", input_records(cfg)},
                 {"grid", {{"size", study.suv.geom.size}, {"spacing_mm", study.suv.geom.spacing}}},
                 {"device", cfg.device}};
  if (dm.task == "seg") {
    const auto trained = rc.at("cache").value("native_spacing", std::array<double, 3>{0, 0, 0});
    for (int a = 0; a < 3; ++a)
      if (trained[a] > 0 && std::abs(spacing[a] / trained[a] - 1.0) > 0.25) {
        spdlog::warn("the study's voxels ({:.2f} x {:.2f} x {:.2f} mm, AP x LR x SI) differ from those the model was "
                     "trained on ({:.2f} x {:.2f} x {:.2f} mm); results may suffer",
                     spacing[0], spacing[1], spacing[2], trained[0], trained[1], trained[2]);
        break;
      }
    // The run's own evaluation settings unless told otherwise (its scores describe those).
    const json& tr = rc.at("train");
    infer::SlidingWindowConfig sw = train::evaluation_windows(dm);
    if (cfg.overlap >= 0) sw.overlap = cfg.overlap;
    sw.batch = cfg.batch;
    sw.flip_tta = cfg.tta;
    sw.keep_probability = cfg.probability;
    if (sw.body_only && !ct_c) {  // the body is found on the CT
      sw.body_only = false;
      spdlog::info("predict: no CT, so windows cover the whole PET volume (not only the body's box)");
    }
    const int64_t n = infer::count_windows(ct_n, sw);
    Progress progress("predict", n, "windows");
    const infer::SlidingWindowResult r = infer::segment_volume(dm.seg, ct_n, pet_n, sw, device, cfg.bf16, &progress);
    progress.finish();
    if (cfg.probability)
      write_image(from_canonical(r.probability, study.suv.geom), out.stage("probability.nii.gz"));
    record["windows"] = r.windows;
    record["sliding_window"] = {{"overlap", sw.overlap},
                                {"overlap_of_the_run_evaluation", tr.value("overlap", 0.5)},
                                {"tta", sw.flip_tta},
                                {"body_only", sw.body_only},
                                {"window", sw.window}};
    write_segmentation(cfg, out, r.mask, study, suv_c, ct_c ? &*ct_c : nullptr, spacing, record,
                       model_description(dm.source));
  } else {
    // The central whole-body stack, made as the cache makes it (normalise, resize).
    const std::array<int64_t, 3> wb = trained_on.size;
    const at::Tensor ct_wb = data::as_stored(data::resize_image(data::normalize_ct(ct_hu, norm), wb));
    const at::Tensor pet_wb = data::as_stored(data::resize_pet(data::normalize_pet(suv_c.data, norm), trained_on));
    data::CropConfig crop;
    crop.kind = rc.value("stack", std::string("coronal")) == "axial" ? data::CropKind::kAxial : data::CropKind::kCoronal;
    crop.slices = dm.stage->cfg.input[crop.kind == data::CropKind::kAxial ? 2 : 0];
    crop.stride = rc.at("train").value("stride", int64_t{2});
    crop.central = true;
    data::Rng rng(0);
    const data::CropWindow w = data::choose_window(crop, wb, at::Tensor(), rng);
    at::Tensor c = at::empty({w.size[0], w.size[1], w.size[2]}, at::kFloat), p = at::empty_like(c);
    data::extract_window(ct_wb, w, c, 1.0, -1.0);
    data::extract_window(pet_wb, w, p, 1.0, 0.0);
    at::Tensor prob;
    {
      torch::NoGradGuard ng;
      compat::CudaAutocast ac(device.is_cuda() && cfg.bf16);
      prob = torch::softmax(dm.stage->forward(c.view({1, 1, w.size[0], w.size[1], w.size[2]}).to(device),
                                              p.view({1, 1, w.size[0], w.size[1], w.size[2]}).to(device))
                                .to(torch::kFloat), 1)
                 .cpu();
    }
    const double p_adv = prob[0][1].item<double>();
    json sj = {{"probabilities", {{"early (I-II)", 1.0 - p_adv}, {"advanced (III-IV)", p_adv}}},
               {"prediction", p_adv > 0.5 ? "advanced (III-IV)" : "early (I-II)"}};
    // Staging reads disease on both sides of the diaphragm from a whole-body scan (skull base to
    // thighs, about a metre); a shorter field of view is stretched onto the model's grid.
    const double length_mm = static_cast<double>(suv_c.data.size(2)) * spacing[2];
    if (length_mm < kWholeBodyMinMm) {
      const std::string w = "the PET covers " + std::to_string(static_cast<int>(std::lround(length_mm))) +
                            " mm head to feet, not a whole body (the staging model was trained on whole-body "
                            "scans): its stage is not meaningful for a partial field of view";
      spdlog::warn("predict: {}", w);
      sj["warning"] = w;
    }
    record["stage"] = sj;
    sj["provenance"] = record.at("provenance");
    sj["model"] = dm.source;
    out.write_text("stage.json", sj.dump(2) + "\n");
    spdlog::info("predict: {} (p advanced = {:.3f})", sj["prediction"].get<std::string>(), p_adv);
  }
  record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record["peak_rss_mib"] = peak_rss_mib();
  out.write_text("prediction.json", record.dump(2) + "\n");
  out.commit();
  return record;
}

}  // namespace fratmae::io
