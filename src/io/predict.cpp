#include "io/predict.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/torch_compat.h"
#include "data/crops.h"
#include "data/normalize.h"
#include "data/preprocess.h"
#include "eval/lesion_stats.h"
#include "eval/reference_floors.h"
#include "infer/cache_eval.h"
#include "io/convert.h"
#include "io/image_io.h"
#include "train/finetuner.h"
#include "viz/mip.h"
#include "viz/png.h"

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
  if (pet.empty()) throw Error("predict: --pet is required");
  if (ct.empty() && floor.empty()) throw Error("predict: both --ct and --pet are required (the model reads both)");
  if (out.empty()) throw Error("predict: --out FOLDER is required");
  if (device != "cpu" && device.rfind("cuda", 0) != 0) throw Error("predict: --device must be cpu or cuda[:N]");
  if (!(overlap < 1)) throw Error("predict: --overlap must lie in [0, 1)");
  if (batch < 1) throw Error("predict: --batch must be at least 1");
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

// SEG.nii.gz, lesions.json and mip.png of a canonical mask on the study's PET grid.
void write_segmentation(StagedOutputs& out, const at::Tensor& mask_c, const ConvertedStudy& study, const Volume& suv_c,
                        const Volume* ct_c, const std::array<double, 3>& spacing, json& record) {
  const Volume mask = from_canonical(mask_c, study.suv.geom);
  const eval::LesionSummary lesions = eval::lesion_statistics(mask, study.suv);
  write_image(mask, out.stage("SEG.nii.gz"));
  json lj = lesions.to_json();
  lj["units"] = {{"volume", "mL"}, {"suv", "g/mL (SUVbw)"}, {"centroid", "mm, LPS (ITK/DICOM patient coordinates)"}};
  out.write_text("lesions.json", lj.dump(2) + "\n");
  const at::Tensor pic = viz::render_mip(suv_c.data, ct_c ? ct_c->data : at::Tensor(), mask_c, {spacing[1], spacing[2]});
  viz::write_png(out.stage("mip.png"), pic);
  record["lesions"] = lesions.count();
  record["mtv_ml"] = lesions.mtv_ml;
  record["tlg"] = lesions.tlg;
  spdlog::info("predict: {} lesion(s), MTV {:.1f} mL, TLG {:.1f}", lesions.count(), lesions.mtv_ml, lesions.tlg);
}

// Every file a prediction may write (a segmentation or a staging model, a floor).
constexpr const char* kPredictionFiles[] = {"SEG.nii.gz", "probability.nii.gz", "lesions.json", "mip.png",
                                            "prediction.json", "stage.json"};

ConvertedStudy read_study(const PredictConfig& cfg) {
  ConvertConfig cc;  // a folder, a DICOM file or an image each (ConvertConfig::resolved)
  cc.pet = cfg.pet;
  cc.ct = cfg.ct;
  cc.out = cfg.out;
  ConvertedStudy study = convert_study(cc);
  if (!cfg.ct.empty() && !study.ct_res) throw FileError(cfg.ct, "no CT could be read");
  study.ct.reset();  // only the CT resampled onto the PET grid is used
  return study;
}

json predict_floor(const PredictConfig& cfg, std::chrono::steady_clock::time_point t0) {
  StagedOutputs out(cfg.out, cfg.overwrite);
  for (const char* name : kPredictionFiles) out.remove_stale(name);  // of an earlier prediction
  out.protect_input(cfg.pet);
  if (!cfg.ct.empty()) out.protect_input(cfg.ct);
  const ConvertedStudy study = read_study(cfg);
  const Volume suv_c = to_canonical(study.suv);
  std::optional<Volume> ct_c;
  if (study.ct_res) ct_c = to_canonical(*study.ct_res);
  const at::Tensor body = ct_c ? eval::body_mask(ct_c->data) : at::Tensor();
  const at::Tensor mask = eval::floor_segmentation(cfg.floor, suv_c.data, body);
  json record = {{"floor", cfg.floor},
                 {"task", "seg"},
                 {"pet", cfg.pet.string()},
                 {"ct", cfg.ct.string()},
                 {"body", ct_c ? "CT >= -500 HU, air around the patient removed" : "whole volume (no CT given)"},
                 {"grid", {{"size", study.suv.geom.size}, {"spacing_mm", study.suv.geom.spacing}}}};
  write_segmentation(out, mask, study, suv_c, ct_c ? &*ct_c : nullptr, canonical_spacing(suv_c.geom), record);
  record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record["peak_rss_mib"] = peak_rss_mib();
  out.write_text("prediction.json", record.dump(2) + "\n");
  out.commit();
  return record;
}

}  // namespace

json predict_study(const PredictConfig& cfg) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  if (!cfg.floor.empty()) return predict_floor(cfg, t0);
  train::DownstreamModel dm = train::load_finetuned(cfg.model, cfg.device);
  const json& rc = dm.run_config;
  const data::CacheSettings trained_on = data::CacheSettings::from_json(rc.at("cache").at("settings"));
  const data::NormalizeConfig& norm = trained_on.normalize;

  StagedOutputs out(cfg.out, cfg.overwrite);
  for (const char* name : kPredictionFiles) out.remove_stale(name);  // of an earlier prediction
  out.protect_input(cfg.pet);
  out.protect_input(cfg.ct);
  const ConvertedStudy study = read_study(cfg);
  const Volume suv_c = to_canonical(study.suv), ct_c = to_canonical(*study.ct_res);
  const auto spacing = canonical_spacing(suv_c.geom);
  const at::Tensor pet_n = data::dequantize_int16(data::quantize_int16(data::normalize_pet(suv_c.data, norm)));
  const at::Tensor ct_n = data::dequantize_int16(data::quantize_int16(data::normalize_ct(ct_c.data, norm)));
  const torch::Device device(cfg.device);

  json record = {{"model", cfg.model.string()},
                 {"task", dm.task},
                 {"pet", cfg.pet.string()},
                 {"ct", cfg.ct.string()},
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
    infer::SlidingWindowConfig sw;
    sw.overlap = cfg.overlap >= 0 ? cfg.overlap : tr.value("overlap", 0.5);
    sw.batch = cfg.batch;
    sw.flip_tta = cfg.tta;
    sw.keep_probability = cfg.probability;
    sw.window = dm.seg->cfg.input;
    sw.body_only = tr.value("body_only", false);
    sw.body_level = data::normalize_ct(at::full({1}, -500.0), norm).item<double>();
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
    write_segmentation(out, r.mask, study, suv_c, &ct_c, spacing, record);
  } else {
    // The central whole-body stack, made as the cache makes it (normalise, resize).
    const std::array<int64_t, 3> wb = trained_on.size;
    const at::Tensor ct_wb = data::dequantize_int16(data::quantize_int16(data::resize_image(data::normalize_ct(ct_c.data, norm), wb)));
    const at::Tensor pet_wb = data::dequantize_int16(data::quantize_int16(data::resize_image(data::normalize_pet(suv_c.data, norm), wb)));
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
    const json sj = {{"probabilities", {{"early (I-II)", 1.0 - p_adv}, {"advanced (III-IV)", p_adv}}},
                     {"prediction", p_adv > 0.5 ? "advanced (III-IV)" : "early (I-II)"}};
    out.write_text("stage.json", sj.dump(2) + "\n");
    record["stage"] = sj;
    spdlog::info("predict: {} (p advanced = {:.3f})", sj["prediction"].get<std::string>(), p_adv);
  }
  record["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record["peak_rss_mib"] = peak_rss_mib();
  out.write_text("prediction.json", record.dump(2) + "\n");
  out.commit();
  return record;
}

}  // namespace fratmae::io
