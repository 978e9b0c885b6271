#include "train/experiment.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <map>

#include "core/folder_lock.h"
#include "core/provenance.h"
#include "core/safetensors.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "data/cache.h"
#include "data/cache_writer.h"
#include "data/loader.h"
#include "data/normalize.h"
#include "data/phantom_source.h"
#include "eval/bootstrap.h"
#include "eval/reference_floors.h"
#include "infer/cache_eval.h"
#include "train/experiment_report.h"
#include "train/finetuner.h"
#include "train/lesion_map.h"
#include "train/pretrainer.h"
#include "train/run_util.h"
#include "viz/mip.h"
#include "viz/plot.h"
#include "viz/png.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

void ExperimentConfig::validate() const {
  if (preset != "demo" && preset != "cpu" && preset != "paper" && preset != "smoke")
    throw Error("experiment: --preset must be 'demo', 'cpu', 'paper' or 'smoke'");
  if (out.empty()) throw Error("experiment: --out DIR is required");
  if (device != "cpu" && device.rfind("cuda", 0) != 0) throw Error("experiment: --device must be cpu or cuda[:N]");
  if (workers < 0) throw Error("experiment: --workers must be >= 0");
  if (seeds < 0 || seeds > 20) throw Error("experiment: --seeds must lie in 1..20 (0: the preset's)");
}

namespace {

// One downstream task's schedule.
struct TaskPlan {
  int64_t steps = 0, epochs = 1, batch = 2;
  double lr = 0;               // 0 = the engine's default (the paper's)
  double test_fraction = 0.2;  // of the task's cohort
  int64_t val_every = 0;       // validation scores for the learning curves (0: at the end)
};

struct Plan {
  std::string phantom;  // phantom preset
  int64_t pre_cases = 0, seg_cases = 0, stage_cases = 0;
  std::array<int64_t, 3> wb{32, 32, 48};
  std::string model = "tiny";
  int64_t pre_steps = 0, pre_epochs = 1, pre_batch = 4;
  double pre_lr = 0;
  TaskPlan seg, stage, probe;
  std::array<int64_t, 3> seg_input{16, 32, 48};  // segmentation crop, the same for every init
  int64_t feature_size = 16;  // UNETR width
  std::string pool = "mean";  // staging: pooling of the encoder tokens
  double lesion_prob = 0.5;   // seg crops around a lesion voxel
  double overlap = 0.25;      // sliding-window evaluation (and `predict`'s default for the run)
  double val_fraction = 0.1;  // validation split of each downstream cohort
  int64_t seeds = 1;          // fine-tuning seeds per setting
  std::vector<double> more_fractions;  // beyond 20%, for baseline and FratMAE (Table 3)
  bool probe_runs = false;    // frozen-encoder staging probe (pre-trained vs random encoders)
  bool stage_from_seg = false;  // staging from the full-label segmentation model's lesion map
  int64_t lesion_detector_steps = 0;  // > 0: that lesion map by a full-label segmentation run of
                                      // this many steps of its own (0: the setting's seed 0)
  int64_t bootstrap = 1000;   // samples of the CIs
};

Plan plan_for(const std::string& preset) {
  Plan p;
  if (preset == "smoke") {  // every stage for a step or two: checks an installation in a minute
    p.phantom = "small";
    p.pre_cases = 6, p.seg_cases = 12, p.stage_cases = 12;
    p.pre_steps = 3, p.pre_batch = 2, p.pre_lr = 1e-3;
    p.seg = {2, 1, 2, 2e-3, 0.25, 0};
    p.stage = {2, 1, 2, 1e-3, 0.25, 0};
    p.probe = p.stage;
    p.feature_size = 4, p.lesion_prob = 0.67, p.overlap = 0.0;
    p.val_fraction = 0.1, p.seeds = 2, p.probe_runs = true, p.bootstrap = 100, p.stage_from_seg = true;
    p.lesion_detector_steps = 3;
  } else if (preset == "demo") {  // tiny model, small phantoms: about a quarter of an hour on two CPU cores
    p.phantom = "small";
    p.pre_cases = 48, p.seg_cases = 40, p.stage_cases = 80;
    p.wb = {32, 64, 96};
    p.pre_steps = 400, p.pre_batch = 8, p.pre_lr = 1e-3;
    p.seg = {400, 1, 4, 5e-3, 0.25, 200};
    p.stage = {300, 1, 8, 1e-3, 0.25, 100};
    p.probe = p.stage;
    p.feature_size = 8, p.lesion_prob = 0.33, p.overlap = 0.0;
    p.val_fraction = 0.1, p.seeds = 1, p.probe_runs = false;
  } else if (preset == "cpu") {  // the paper's comparison sized for two CPU cores (about 90 minutes)
    // Settings chosen on validation cases of an independent phantom cohort (docs/experiments.md).
    p.phantom = "small";
    p.pre_cases = 200, p.seg_cases = 110, p.stage_cases = 200;
    p.wb = {32, 64, 96};
    p.pre_steps = 1500, p.pre_batch = 8, p.pre_lr = 1e-3;
    p.seg = {800, 1, 4, 5e-3, 0.4, 400};
    p.stage = {800, 1, 8, 1e-3, 0.3, 400};
    p.probe = p.stage;
    p.feature_size = 8, p.lesion_prob = 0.33, p.overlap = 0.0;
    p.val_fraction = 0.1, p.seeds = 3, p.probe_runs = true, p.stage_from_seg = true;
    // The 800-step model's lesion maps stage at 0.62-0.63 on the exploration cohort's validation
    // cases, a 3,000-step model's at 0.78-0.80 (docs/experiments.md).
    // With the convolutional encoder (`finetune --conv-encoder`) that model segments better
    // (seed 0: validation Dice 0.499 vs 0.391) but its lesion maps stage worse (0.71-0.73 vs 0.78-0.80):
    // the plain UNETR stays.
    p.lesion_detector_steps = 3000;
  } else {
    // The paper's schedule (§2.4): 30 epochs of pre-training at batch 24, 200 epochs of
    // segmentation at batch 16, 500 epochs of staging at batch 2.
    p.phantom = "full";
    p.pre_cases = 400, p.seg_cases = 200, p.stage_cases = 200;
    p.wb = {160, 160, 192};
    p.seg_input = {32, 160, 192};
    p.model = "paper";
    p.pre_epochs = 30, p.pre_batch = 24;
    p.seg = {0, 200, 16, 0, 0.25, 0};
    p.stage = {0, 500, 2, 0, 0.3, 0};
    p.probe = p.stage;
    p.feature_size = 16, p.lesion_prob = 0.5, p.overlap = 0.5;
    p.val_fraction = 0.1, p.seeds = 3, p.probe_runs = true, p.stage_from_seg = true;
    p.more_fractions = {0.4, 1.0};
  }
  return p;
}

const std::vector<std::pair<std::string, std::string>>& table3_settings() {
  static const std::vector<std::pair<std::string, std::string>> s{
      {"", "(1) baseline, no pre-training"},
      {"mae", "(2) MAE"},
      {"mae-align", "(3) MAE + ContextAlign"},
      {"fratmae-noalign", "(4) FratMAE w/o ContextAlign"},
      {"fratmae", "(5) FratMAE"}};
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// `lesions_of`: a segmentation run whose predicted lesions replace every case's PET (lesion_map.h).
void build_phantom_cache(const fs::path& dir, const std::string& phantom, const std::string& cohort, int64_t cases,
                         uint64_t seed, const std::array<int64_t, 3>& wb, bool native, const std::string& device,
                         const fs::path& lesions_of = {}, bool bf16 = true) {
  phantom::PhantomConfig pc;
  pc.device = device;  // full-size phantoms are generated much faster on a GPU
  pc.preset = phantom;
  pc.cohort = cohort;
  pc.cases = cases;
  pc.seed = seed;
  data::CacheSettings s;
  s.size = wb;
  s.native = native;
  data::CacheWriter w(dir, s);
  data::BuildOptions bo;
  auto jobs = data::phantom_jobs(pc);
  if (!lesions_of.empty()) {
    jobs = lesion_map_jobs(std::move(jobs), lesions_of, device, bf16);
    bo.workers = 1;  // one model, used by one case at a time
  }
  const data::BuildReport r = data::build_cache(w, jobs, bo);
  if (r.failed) throw Error("experiment: " + std::to_string(r.failed) + " phantom case(s) failed in " + dir.string());
  w.commit();
}

std::string fraction_name(double f) { return std::to_string(static_cast<int>(std::lround(f * 100))) + "pct"; }

// A fine-tuning setting's folder name: init (or baseline, or noencoder for staging's `--pool
// input`), training fraction, stack, frozen.
std::string setting_name(const std::string& init, double fraction, const std::string& stack, bool frozen,
                         const std::string& pool = "", const std::string& cache = "") {
  const std::string what = cache == "stage_lesions" ? "seglesions" : pool == "input" ? "noencoder" : init.empty() ? "baseline" : init;
  return (frozen ? std::string("probe_") : std::string()) + what + "_" + fraction_name(fraction) +
         (stack == "axial" ? "_axial" : "");
}

// What every run of an experiment shares.
template <class Config>
void set_common(Config& c, const ExperimentConfig& cfg) {
  c.device = cfg.device;
  c.bf16 = cfg.bf16;
  c.workers = cfg.workers;
  c.log_every = 5;
  c.checkpoint_every = 1000;
}

// The reference floors on the segmentation test cases, written like a run's test results.
void write_seg_floors(const fs::path& dir, const data::Cache& cache, const std::vector<std::string>& test_ids) {
  const auto& norm = cache.settings().normalize;
  std::map<std::string, infer::SegEvaluation> e;
  for (const std::string& id : test_ids) {
    const int64_t i = cache.find(id);
    if (i < 0) throw FileError(cache.dir(), "has no test case " + id);
    const auto& c = cache.at(i);
    const at::Tensor suv = data::denormalize_pet(data::dequantize_int16(c.nat_pet), norm);
    const at::Tensor body = eval::body_mask(data::denormalize_ct(data::dequantize_int16(c.nat_ct), norm));
    const double voxel_ml = c.nat_spacing[0] * c.nat_spacing[1] * c.nat_spacing[2] / 1000.0;
    for (const std::string& method : eval::reference_floors()) {
      const at::Tensor mask = eval::floor_segmentation(method, suv, body);
      auto& ev = e[method];
      ev.ids.push_back(id);
      ev.cases.push_back(eval::segmentation_metrics(mask, c.nat_seg, voxel_ml));
      for (const auto& l : eval::lesion_detection(mask, c.nat_seg, voxel_ml)) ev.lesions.push_back(l);
    }
  }
  eval::BootstrapOptions once;
  once.samples = 1;
  for (auto& [method, ev] : e) {
    ev.summary = infer::summarize_segmentation(ev.cases, once);
    ev.detection = eval::detection_by_size(ev.lesions);
    infer::write_evaluation(dir / method, ev);
  }
}

// Staging's floor: always the majority class of the training split.
void write_majority_floor(const fs::path& dir, const data::Cache& cache, const json& split) {
  int64_t n[2] = {0, 0};
  for (const auto& id : split.at("train")) {
    const int64_t l = cache.at(cache.find(id.get<std::string>())).stage_label;
    if (l == 0 || l == 1) ++n[l];
  }
  const int64_t majority = n[1] > n[0] ? 1 : 0;
  infer::StageEvaluation e;
  for (const auto& id : split.at("test")) {
    e.ids.push_back(id.get<std::string>());
    e.truth.push_back(cache.at(cache.find(id.get<std::string>())).stage_label);
    e.pred.push_back(majority);
    e.p_advanced.push_back(static_cast<double>(majority));
  }
  e.summary = json::object();
  infer::write_evaluation(dir, e);
}

// Coronal MIPs of one test case: the truth beside a floor's mask and the predictions of the given runs.
// The example test case as a picture (png: MIPs of truth, the 41% SUVmax floor and each run's
// prediction) and as volumes (EXAMPLE_FILE: the viewer of report.html, io/experiment_page.h).
void write_examples(const fs::path& png, const data::Cache& cache,
                    const std::vector<std::pair<std::string, fs::path>>& runs, const std::string& device,
                    double overlap) {
  // The test case with the largest lesion volume shows the most.
  const json cfg = json::parse(read_file(runs.front().second / "config.json"));
  int64_t best = -1, best_vox = -1;
  for (const auto& id : cfg["split"]["test"]) {
    const int64_t i = cache.find(id.get<std::string>());
    if (i < 0) continue;
    const int64_t v = cache.at(i).nat_seg.defined() ? cache.at(i).nat_seg.sum().item<int64_t>() : 0;
    if (v > best_vox) best = i, best_vox = v;
  }
  if (best < 0) return;
  const auto& c = cache.at(best);
  const auto& norm = cache.settings().normalize;
  const at::Tensor ct_n = data::dequantize_int16(c.nat_ct), pet_n = data::dequantize_int16(c.nat_pet);
  const at::Tensor suv = data::denormalize_pet(pet_n, norm), hu = data::denormalize_ct(ct_n, norm);
  const std::array<double, 2> sp{c.nat_spacing[1], c.nat_spacing[2]};
  const at::Tensor floor = eval::floor_segmentation("suvmax41", suv, eval::body_mask(hu));
  std::vector<at::Tensor> panels{viz::render_mip(suv, at::Tensor(), c.nat_seg, sp), viz::render_mip(suv, at::Tensor(), floor, sp)};
  // Canonical (H, W, D) arrays and the source grid they came from (data/cache.h).
  std::map<std::string, at::Tensor> volumes{{"ct_hu", hu.to(at::kFloat)}, {"suv", suv.to(at::kFloat)},
                                            {"mask_0", c.nat_seg.to(at::kByte)}, {"mask_1", floor.to(at::kByte)}};
  json labels = {"truth", "floor: 41% of SUVmax per hot region"};
  for (const auto& [label, run] : runs) {
    DownstreamModel dm = load_finetuned(run, device);
    infer::SlidingWindowConfig sw;
    sw.overlap = overlap;
    sw.body_only = true;
    sw.body_level = data::body_level(norm);
    const auto r = infer::segment_volume(dm.seg, ct_n, pet_n, sw, torch::Device(device), true);
    panels.push_back(viz::render_mip(suv, at::Tensor(), r.mask, sp));
    volumes["mask_" + std::to_string(labels.size())] = r.mask.to(at::kByte);
    labels.push_back(label);
  }
  save_safetensors(png.parent_path() / kExampleCaseFile, volumes,
                   {{"case", c.id}, {"geometry", geometry_to_json(c.source_geometry).dump()}, {"masks", labels.dump()}});
  std::vector<at::Tensor> row;
  for (const auto& p : panels) {
    row.push_back(p);
    row.push_back(at::full({p.size(0), 8, 3}, 255, at::kByte));  // white gap
  }
  row.pop_back();
  viz::write_png(png, at::cat(row, 1));
}

// Validation curves of the first seed of each setting of a task.
std::vector<viz::Series> validation_curves(const std::vector<std::pair<std::string, fs::path>>& runs, const char* key) {
  std::vector<viz::Series> out;
  for (const auto& [label, run] : runs) {
    viz::Series s{label, {}, {}};
    for (const json& m : read_metrics(run / "metrics.jsonl", INT64_MAX))
      if (m.contains(key) && m[key].is_number()) {
        s.x.push_back(m["step"].get<double>());
        s.y.push_back(m[key].get<double>());
      }
    if (!s.x.empty()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

json run_experiment(const ExperimentConfig& cfg) {
  cfg.validate();
  Plan plan = plan_for(cfg.preset);
  if (cfg.seeds > 0) plan.seeds = cfg.seeds;
  const fs::path out(cfg.out);
  const FolderLock lock(out, "experiment");  // one experiment per folder (its runs lock their own)
  fs::create_directories(out / "pictures");
  const auto t_start = std::chrono::steady_clock::now();
  json seconds = json::object();

  // 1. Cohorts -> caches (incremental: finished cases are kept).
  auto t = std::chrono::steady_clock::now();
  spdlog::info("experiment {}: [1/4] phantom cohorts and caches in {}", cfg.preset, (out / "caches").string());
  build_phantom_cache(out / "caches" / "pretrain", plan.phantom, "autopet", plan.pre_cases, cfg.seed + 101, plan.wb, false, cfg.device);
  build_phantom_cache(out / "caches" / "seg", plan.phantom, "autopet", plan.seg_cases, cfg.seed + 202, plan.wb, true, cfg.device);
  build_phantom_cache(out / "caches" / "stage", plan.phantom, "hodgkin", plan.stage_cases, cfg.seed + 303, plan.wb, false,
                      cfg.device);
  seconds["caches"] = seconds_since(t);

  // 2. Pre-training of the four variants.
  t = std::chrono::steady_clock::now();
  std::vector<viz::Series> pre_curves;
  for (const auto& [method, label] : table3_settings()) {
    if (method.empty()) continue;
    PretrainConfig pc;
    pc.cache = (out / "caches" / "pretrain").string();
    pc.out = (out / "pretrain" / method).string();
    pc.preset = plan.model;
    pc.method = method;
    pc.steps = plan.pre_steps;
    pc.epochs = plan.pre_epochs;
    pc.batch = plan.pre_batch;
    if (plan.pre_lr > 0) pc.lr = plan.pre_lr;
    pc.seed = cfg.seed;
    set_common(pc, cfg);
    spdlog::info("experiment {}: [2/4] pre-training {}", cfg.preset, label);
    pretrain(pc, fs::exists(fs::path(pc.out) / "config.json"));
    if (stop_request().load()) throw Error("experiment: stopped; run the same command again to continue");
    viz::Series s{label + ": loss", {}, {}};
    for (const json& m : read_metrics(fs::path(pc.out) / "metrics.jsonl", INT64_MAX)) {
      s.x.push_back(m["step"].get<double>());
      s.y.push_back(m["loss"].get<double>());
    }
    pre_curves.push_back(s);
  }
  viz::write_line_plot(out / "pictures" / "pretrain_loss.svg", "pre-training loss (" + plan.model + " model)", "step",
                       pre_curves);
  seconds["pretrain"] = seconds_since(t);

  // 3. Fine-tuning: every setting once per seed, all on the same split (the split seed is the
  // experiment's; the fine-tuning seed is the experiment's plus the seed's number).
  struct Setting {
    std::string task, init, stack, label;
    double fraction;
    bool frozen;
    fs::path dir;       // the setting's folder; seed k's run in dir / "seed<k>"
    std::string pool;   // staging pooling when not the plan's
    std::string cache;  // the cache in out/caches when not the task's
  };
  std::vector<Setting> settings;
  auto add = [&](const std::string& task, const std::string& init, double fraction, const std::string& stack,
                 bool frozen, const std::string& label, const std::string& pool = "", const std::string& cache = "") {
    const fs::path dir = out / "finetune" / task / setting_name(init, fraction, stack, frozen, pool, cache);
    for (const Setting& s : settings)
      if (s.dir == dir) return;
    settings.push_back({task, init, stack, label, fraction, frozen, dir, pool, cache});
  };
  for (const char* task : {"seg", "stage"}) {
    for (const auto& [method, label] : table3_settings()) add(task, method, 0.2, "coronal", false, label + " at 20%");
    for (double f : plan.more_fractions) {
      add(task, "", f, "coronal", false, "(1) baseline at " + fraction_name(f));
      add(task, "fratmae", f, "coronal", false, "(5) FratMAE at " + fraction_name(f));
    }
    add(task, "", 1.0, "coronal", false, "coronal stacks, 100% (full-label baseline)");  // Table 2
    add(task, "", 1.0, "axial", false, "axial stacks, 100%");
  }
  // A learned floor for staging: the MLP on the PET's and CT's maxima within 2 x 8 regions of the
  // coronal stack, no encoder (model/unetr.h): what the encoders must beat to have seen anything.
  add("stage", "", 1.0, "coronal", false, "no encoder: MLP on the input's regional maxima, 100%", "input");
  // Staging from the segmentation: the full-label segmentation model (seed 0) segments every
  // staging case, its lesions become the PET (lesion_map.h), and the no-encoder MLP stages that
  // map, with coronal and with axial stacks. Made after that model exists (seed 0's segmentation
  // settings run before its staging ones).
  if (plan.stage_from_seg) {
    add("stage", "", 1.0, "coronal", false, "from the segmentation's lesion map (no encoder), coronal, 100%", "input",
        "stage_lesions");
    add("stage", "", 1.0, "axial", false, "from the segmentation's lesion map (no encoder), axial, 100%", "input",
        "stage_lesions");
  }
  if (plan.probe_runs) {
    add("stage", "", 1.0, "coronal", true, "random encoders (frozen)");
    add("stage", "fratmae", 1.0, "coronal", true, "FratMAE encoders (frozen)");
    // The segmentation control: the 20% baseline with its encoders frozen at their random
    // initialisation, only the UNETR decoder trained. Pre-training changes only the encoders, so
    // Table 3 can show through segmentation only where trained encoders beat random ones.
    add("seg", "", 0.2, "coronal", true, "random encoders (frozen), 20%");
  }
  auto run_dir = [](const Setting& s, int64_t k) { return s.dir / ("seed" + std::to_string(k)); };
  t = std::chrono::steady_clock::now();
  const int64_t n_runs = static_cast<int64_t>(settings.size()) * plan.seeds;
  int64_t done = 0;
  bool lesion_map_built = false;
  auto finetune_config = [&](const Setting& s, int64_t k) {
    const TaskPlan& tp = s.task == "seg" ? plan.seg : s.frozen ? plan.probe : plan.stage;
    const fs::path dir = run_dir(s, k);
    FinetuneConfig fc;
    fc.task = s.task;
    fc.cache = (out / "caches" / (!s.cache.empty() ? s.cache : s.task == "seg" ? "seg" : "stage")).string();
    fc.out = dir.string();
    fc.init = s.init.empty() ? "" : (out / "pretrain" / s.init).string();
    fc.preset = plan.model;
    fc.stack = s.stack;
    fc.train_fraction = s.fraction;
    fc.test_fraction = tp.test_fraction;
    fc.val_fraction = plan.val_fraction;
    fc.val_every = k == 0 ? tp.val_every : -1;  // learning curves from the first seed; the others need none
    fc.split_seed = cfg.seed;
    fc.seed = cfg.seed + static_cast<uint64_t>(k);
    fc.steps = tp.steps;
    fc.epochs = tp.epochs;
    fc.batch = tp.batch;
      set_common(fc, cfg);
    fc.lr = tp.lr;
    fc.freeze_encoders = s.frozen;
    fc.feature_size = plan.feature_size;
    fc.pool = s.pool.empty() ? plan.pool : s.pool;
      if (s.task == "seg") fc.input = plan.seg_input;
    fc.lesion_prob = plan.lesion_prob;
    fc.overlap = plan.overlap;
    fc.bootstrap = plan.bootstrap;
    return fc;
  };
  // The segmentation model whose lesions the staging cohort's lesion map shows: the full-label
  // setting's seed 0, or a run of that setting with lesion_detector_steps of its own.
  auto lesion_detector = [&] {
    const Setting* full = nullptr;
    for (const Setting& s : settings)
      if (s.dir.filename() == setting_name("", 1.0, "coronal", false) && s.task == "seg") full = &s;
    if (!full) throw Error("experiment: no full-label segmentation setting for the lesion map");
    if (plan.lesion_detector_steps == 0) return run_dir(*full, 0);
    const fs::path dir = out / "finetune" / "lesion_detector";
    if (!fs::exists(dir / "test" / "metrics.json")) {
      FinetuneConfig fc = finetune_config(*full, 0);
      fc.out = dir.string();
      fc.steps = plan.lesion_detector_steps;
      spdlog::info("experiment {}: [3/4] the lesion detector for staging, {} steps: {}", cfg.preset, fc.steps,
                   dir.string());
      finetune(fc, fs::exists(dir / "config.json"));
      if (stop_request().load()) throw Error("experiment: stopped; run the same command again to continue");
    }
    return dir;
  };
  for (int64_t k = 0; k < plan.seeds; ++k)
    for (const Setting& s : settings) {
      ++done;
      const fs::path dir = run_dir(s, k);
      if (fs::exists(dir / "test" / "metrics.json")) continue;
      if (s.cache == "stage_lesions" && !lesion_map_built) {  // incremental like every cache
        lesion_map_built = true;
        const fs::path seg_model = lesion_detector();
        spdlog::info("experiment {}: the staging cohort's lesion map by {}", cfg.preset, seg_model.string());
        build_phantom_cache(out / "caches" / "stage_lesions", plan.phantom, "hodgkin", plan.stage_cases, cfg.seed + 303,
                            plan.wb, false, cfg.device, seg_model, cfg.bf16);
      }
      const FinetuneConfig fc = finetune_config(s, k);
      spdlog::info("experiment {}: [3/4] fine-tuning {}/{}: {}", cfg.preset, done, n_runs, dir.string());
      finetune(fc, fs::exists(dir / "config.json"));
      if (stop_request().load()) throw Error("experiment: stopped; run the same command again to continue");
    }
  json detector = nullptr;  // the lesion map's segmentation model, for the report
  if (plan.stage_from_seg) {
    const fs::path d = lesion_detector();
    detector = {{"run", fs::relative(d, out).string()},
                {"steps", json::parse(read_file(d / "config.json"))["train"]["steps"]},
                {"dice", json::parse(read_file(d / "test" / "metrics.json"))["summary"]["dice"]}};
  }
  seconds["finetune"] = seconds_since(t);

  // 4. Floors, statistics, report.
  spdlog::info("experiment {}: [4/4] reference floors and report", cfg.preset);
  t = std::chrono::steady_clock::now();
  auto seg_cache = data::Cache::open(out / "caches" / "seg");
  auto stage_cache = data::Cache::open(out / "caches" / "stage");
  auto first_of = [&](const std::string& task) {
    for (const Setting& s : settings)
      if (s.task == task) return run_dir(s, 0);
    throw Error("experiment: no " + task + " runs");
  };
  const json seg_split = json::parse(read_file(first_of("seg") / "config.json"))["split"];
  const json stage_split = json::parse(read_file(first_of("stage") / "config.json"))["split"];
  std::vector<std::string> seg_test;
  for (const auto& id : seg_split["test"]) seg_test.push_back(id.get<std::string>());
  write_seg_floors(out / "floors" / "seg", *seg_cache, seg_test);
  write_majority_floor(out / "floors" / "stage" / "majority", *stage_cache, stage_split);

  std::vector<SettingSpec> specs;
  auto key_of = [](const Setting& s) { return s.task + "/" + s.dir.filename().string(); };
  for (const Setting& s : settings) {
    SettingSpec sp{key_of(s), s.task, s.label, {}};
    for (int64_t k = 0; k < plan.seeds; ++k) sp.results.push_back(run_dir(s, k) / "test" / "metrics.json");
    specs.push_back(sp);
  }
  const std::map<std::string, std::string> floor_labels{
      {"suv2.5", "SUV >= 2.5 in the body"}, {"suv4.0", "SUV >= 4.0 in the body"}, {"suvmax41", "41% of SUVmax per hot region"}};
  json floor_keys = {{"seg", json::array()}, {"stage", json::array()}};
  for (const std::string& m : eval::reference_floors()) {
    specs.push_back({"seg/floor_" + m, "seg", floor_labels.at(m), {out / "floors" / "seg" / m / "metrics.json"}});
    floor_keys["seg"].push_back("seg/floor_" + m);
  }
  specs.push_back({"stage/floor_majority", "stage", "majority class of the training split",
                   {out / "floors" / "stage" / "majority" / "metrics.json"}});
  floor_keys["stage"].push_back("stage/floor_majority");
  const std::string no_encoder = "stage/" + setting_name("", 1.0, "coronal", false, "input");
  floor_keys["stage"].push_back(no_encoder);

  auto key = [&](const std::string& task, const std::string& init, double f, const std::string& stack, bool frozen = false) {
    return task + "/" + setting_name(init, f, stack, frozen);
  };
  std::vector<ComparisonSpec> comparisons;
  for (const char* task : {"seg", "stage"}) {
    const std::string T = std::string(task) == "seg" ? "segmentation" : "staging";
    comparisons.push_back({T + ": coronal - axial stacks (Table 2, 100%)", key(task, "", 1.0, "coronal"),
                           key(task, "", 1.0, "axial"), "Table 2, " + T + ": coronal stacks beat axial stacks"});
    comparisons.push_back({T + ": FratMAE - baseline (20%)", key(task, "fratmae", 0.2, "coronal"), key(task, "", 0.2, "coronal"),
                           "Table 3, " + T + ": FratMAE at 20% beats no pre-training at 20%"});
    comparisons.push_back({T + ": FratMAE - MAE (20%)", key(task, "fratmae", 0.2, "coronal"), key(task, "mae", 0.2, "coronal"),
                           "Table 3, " + T + ": FratMAE beats MAE at 20%"});
    for (const auto& [method, label] : table3_settings())
      if (!method.empty() && method != "fratmae")
        comparisons.push_back({T + ": " + label.substr(4) + " - baseline (20%)", key(task, method, 0.2, "coronal"),
                               key(task, "", 0.2, "coronal"), ""});
    comparisons.push_back({T + ": full-label baseline - baseline at 20%", key(task, "", 1.0, "coronal"),
                           key(task, "", 0.2, "coronal"), "more labels help " + T + " (100% beats 20%)"});
    comparisons.push_back({T + ": full-label baseline - FratMAE at 20%", key(task, "", 1.0, "coronal"),
                           key(task, "fratmae", 0.2, "coronal"), ""});
  }
  for (const std::string& m : eval::reference_floors())
    comparisons.push_back({"segmentation: full-label baseline - floor " + floor_labels.at(m), key("seg", "", 1.0, "coronal"),
                           "seg/floor_" + m, "the learned segmentation (100%) beats the floor " + floor_labels.at(m)});
  comparisons.push_back({"staging: coronal stacks (100%) - majority class", key("stage", "", 1.0, "coronal"),
                         "stage/floor_majority", "learned staging (coronal, 100%) beats the majority class"});
  comparisons.push_back({"staging: axial stacks (100%) - majority class", key("stage", "", 1.0, "axial"),
                         "stage/floor_majority", ""});
  comparisons.push_back({"staging: coronal stacks (100%) - no encoder", key("stage", "", 1.0, "coronal"), no_encoder,
                         "the encoders stage better than an MLP on the input's regional maxima (coronal, 100%)"});
  comparisons.push_back({"staging: no encoder (100%) - majority class", no_encoder, "stage/floor_majority", ""});
  json from_seg = json::array();
  if (plan.stage_from_seg) {
    const std::string lc = "stage/" + setting_name("", 1.0, "coronal", false, "input", "stage_lesions"),
                      la = "stage/" + setting_name("", 1.0, "axial", false, "input", "stage_lesions");
    from_seg = {lc, la};
    comparisons.push_back({"staging from the segmentation's lesions (100%) - majority class", lc, "stage/floor_majority",
                           "staging from the segmentation's lesion map beats the majority class"});
    comparisons.push_back({"staging from the segmentation's lesions: coronal - axial stacks", lc, la,
                           "Table 2, staging from the segmentation's lesion map: coronal stacks beat axial stacks"});
    comparisons.push_back({"staging: from the segmentation's lesions - coronal stacks (100%)", lc,
                           key("stage", "", 1.0, "coronal"),
                           "the segmentation's lesion map stages better than the encoders' features"});
  }
  // The A of every staging claim against the floor, so that the report can tell a claim shown
  // between models at chance from the paper's effect (floor_caveat).
  comparisons.push_back({"staging: FratMAE at 20% - majority class", key("stage", "fratmae", 0.2, "coronal"),
                         "stage/floor_majority", ""});
  json probe_keys = json::array(), seg_control = nullptr;
  if (plan.probe_runs) {
    seg_control = key("seg", "", 0.2, "coronal", true);
    comparisons.push_back({"segmentation: baseline - random frozen encoders (20%)", key("seg", "", 0.2, "coronal"),
                           seg_control.get<std::string>(),
                           "segmentation uses what its encoders learn (trained encoders beat frozen random ones at 20%), "
                           "the condition for pre-training to show through segmentation"});
    probe_keys = {key("stage", "", 1.0, "coronal", true), key("stage", "fratmae", 1.0, "coronal", true)};
    comparisons.push_back({"staging probe: FratMAE - random frozen encoders", probe_keys[1], probe_keys[0],
                           "frozen FratMAE encoders stage better than frozen random ones (what pre-training learnt)"});
    comparisons.push_back({"staging probe: FratMAE frozen encoders - majority class", probe_keys[1],
                           "stage/floor_majority", ""});
  }
  eval::BootstrapOptions bo;
  bo.samples = plan.bootstrap;
  bo.seed = cfg.seed;
  const json agg = aggregate_results(specs, comparisons, bo, out);

  json table2 = json::array(), table3 = json::array();
  auto row_metrics = [&](json& row, const std::string& seg_key, const std::string& stage_key) {
    row["seg_key"] = seg_key;
    row["stage_key"] = stage_key;
    row["seg"] = agg["settings"][seg_key]["metrics"];
    row["stage"] = agg["settings"][stage_key]["metrics"];
  };
  for (const char* stack : {"axial", "coronal"}) {
    json row = {{"approach", std::string(stack) + " stacks"}};
    row_metrics(row, key("seg", "", 1.0, stack), key("stage", "", 1.0, stack));
    table2.push_back(row);
  }
  std::vector<double> fractions{0.2};
  for (double f : plan.more_fractions) fractions.push_back(f);
  for (double f : fractions)
    for (const auto& [method, label] : table3_settings()) {
      if (f != 0.2 && !(method.empty() || method == "fratmae")) continue;
      json row = {{"train_set", std::to_string(static_cast<int>(std::lround(f * 100))) + "%"}, {"setting", label}};
      row_metrics(row, key("seg", method, f, "coronal"), key("stage", method, f, "coronal"));
      table3.push_back(row);
    }

  // Pictures: validation curves; example segmentations.
  for (const char* task : {"seg", "stage"}) {
    std::vector<std::pair<std::string, fs::path>> runs;
    for (const Setting& s : settings)
      if (s.task == task && !s.frozen) runs.push_back({s.label, run_dir(s, 0)});
    const bool seg = std::string(task) == "seg";
    viz::write_line_plot(out / "pictures" / (seg ? "finetune_curves_seg.svg" : "finetune_curves_stage.svg"),
                         seg ? "validation Dice during fine-tuning (seed 0)" : "validation accuracy during fine-tuning (seed 0)",
                         "step", validation_curves(runs, seg ? "val_dice" : "val_accuracy"));
  }
  const fs::path seg_runs = out / "finetune" / "seg";
  write_examples(out / "pictures" / "segmentation_examples.png", *seg_cache,
                 {{"full-label baseline (100%)", seg_runs / "baseline_100pct" / "seed0"},
                  {"baseline 20%", seg_runs / "baseline_20pct" / "seed0"},
                  {"FratMAE 20%", seg_runs / "fratmae_20pct" / "seed0"}},
                 cfg.device, plan.overlap);
  seconds["report"] = seconds_since(t);
  seconds["total"] = seconds_since(t_start);

  int64_t seg_lesion_cases = 0;
  for (const auto& id : seg_split["test"]) {
    const auto& c = seg_cache->at(seg_cache->find(id.get<std::string>()));
    if (c.nat_seg.defined() && c.nat_seg.any().item<bool>()) ++seg_lesion_cases;
  }
  auto task_json = [](const TaskPlan& p) {
    return json{{"steps", p.steps}, {"epochs", p.epochs}, {"batch", p.batch}, {"lr", p.lr},
                {"test_fraction", p.test_fraction}, {"val_every", p.val_every}};
  };
  json report = {
      {"preset", cfg.preset},
      {"model", plan.model},
      {"seeds", plan.seeds},
      {"data",
       {{"phantom", plan.phantom},
        {"pretraining_cases", plan.pre_cases},
        {"segmentation_cases", plan.seg_cases},
        {"segmentation_test_cases", seg_split["test"].size()},
        {"segmentation_test_lesion_cases", seg_lesion_cases},
        {"staging_cases", plan.stage_cases},
        {"staging_test_cases", stage_split["test"].size()},
        {"validation_fraction", plan.val_fraction},
        {"whole_body_size", plan.wb}}},
      {"schedule",
       {{"pretrain", {{"steps", plan.pre_steps}, {"epochs", plan.pre_epochs}, {"batch", plan.pre_batch}, {"lr", plan.pre_lr}}},
        {"seg", task_json(plan.seg)},
        {"stage", task_json(plan.stage)},
        {"probe", task_json(plan.probe)},
        {"segmentation_input", plan.seg_input},
        {"unetr_feature_size", plan.feature_size},
        {"staging_pool", plan.pool},
        {"lesion_prob", plan.lesion_prob},
        {"sliding_window_overlap", plan.overlap}}},
      {"bootstrap", {{"samples", plan.bootstrap}, {"level", 0.95}, {"seed", cfg.seed}}},
      {"settings", agg["settings"]},
      {"order", agg["order"]},
      {"comparisons", agg["comparisons"]},
      {"table2", table2},
      {"table3", table3},
      {"floors", floor_keys},
      {"probe", probe_keys},
      {"stage_from_seg", from_seg},
      {"lesion_detector", detector},
      {"seg_control", seg_control},
      {"seconds", seconds},
      {"provenance", provenance()},
      {"examples", "truth, 41% of SUVmax floor, full-label baseline, baseline (20%), FratMAE (20%)"},
      {"pictures",
       {"pictures/pretrain_loss.svg", "pictures/finetune_curves_seg.svg", "pictures/finetune_curves_stage.svg",
        "pictures/segmentation_examples.png", std::string("pictures/") + kExampleCaseFile}}};
  write_file_atomic(out / "report.json", report.dump(2) + "\n");
  write_file_atomic(out / "report.md", experiment_markdown(report));
  spdlog::info("experiment {}: done in {:.0f} s; report in {}", cfg.preset, seconds["total"].get<double>(),
               (out / "report.md").string());
  return report;
}

}  // namespace fratmae::train
