#include "io/predict.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/torch_compat.h"
#include "data/crops.h"
#include "data/normalize.h"
#include "data/preprocess.h"
#include "eval/lesion_stats.h"
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
  if (model.empty()) throw Error("predict: --model RUN (a fine-tuning run) is required");
  if (ct.empty() || pet.empty()) throw Error("predict: both --ct and --pet are required (the model reads both)");
  if (out.empty()) throw Error("predict: --out FOLDER is required");
  if (device != "cpu" && device.rfind("cuda", 0) != 0) throw Error("predict: --device must be cpu or cuda[:N]");
  if (!(overlap >= 0 && overlap < 1)) throw Error("predict: --overlap must lie in [0, 1)");
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

json predict_study(const PredictConfig& cfg) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  train::DownstreamModel dm = train::load_finetuned(cfg.model, cfg.device);
  const json& rc = dm.run_config;
  const data::CacheSettings trained_on = data::CacheSettings::from_json(rc.at("cache").at("settings"));
  const data::NormalizeConfig& norm = trained_on.normalize;

  ConvertConfig cc;
  std::error_code ec;
  (fs::is_directory(cfg.pet, ec) ? cc.pet_dicom : cc.pet) = cfg.pet;
  (fs::is_directory(cfg.ct, ec) ? cc.ct_dicom : cc.ct) = cfg.ct;
  cc.out = cfg.out;
  StagedOutputs out(cfg.out, cfg.overwrite);
  out.protect_input(cfg.pet);
  out.protect_input(cfg.ct);
  ConvertedStudy study = convert_study(cc);
  if (!study.ct_res) throw FileError(cfg.ct, "no CT could be read");
  study.ct.reset();  // only the CT resampled onto the PET grid is used
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
    infer::SlidingWindowConfig sw;
    sw.overlap = cfg.overlap;
    sw.batch = cfg.batch;
    sw.flip_tta = cfg.tta;
    sw.keep_probability = cfg.probability;
    sw.window = dm.seg->cfg.input;
    const int64_t n = infer::count_windows({pet_n.size(0), pet_n.size(1), pet_n.size(2)}, sw);
    Progress progress("predict", n, "windows");
    const infer::SlidingWindowResult r = infer::segment_volume(dm.seg, ct_n, pet_n, sw, device, cfg.bf16, &progress);
    progress.finish();
    const Volume mask = from_canonical(r.mask, study.suv.geom);
    const eval::LesionSummary lesions = eval::lesion_statistics(mask, study.suv);
    write_image(mask, out.stage("SEG.nii.gz"));
    if (cfg.probability) write_image(from_canonical(r.probability, study.suv.geom), out.stage("probability.nii.gz"));
    json lj = lesions.to_json();
    lj["units"] = {{"volume", "mL"}, {"suv", "g/mL (SUVbw)"}, {"centroid", "mm, LPS (ITK/DICOM patient coordinates)"}};
    out.write_text("lesions.json", lj.dump(2) + "\n");
    const at::Tensor pic = viz::render_mip(suv_c.data, ct_c.data, r.mask, {spacing[1], spacing[2]});
    viz::write_png(out.stage("mip.png"), pic);
    record["windows"] = r.windows;
    record["lesions"] = lesions.count();
    record["mtv_ml"] = lesions.mtv_ml;
    record["tlg"] = lesions.tlg;
    spdlog::info("predict: {} lesion(s), MTV {:.1f} mL, TLG {:.1f} ({} windows)", lesions.count(), lesions.mtv_ml,
                 lesions.tlg, r.windows);
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
