#include "train/experiment.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/cache.h"
#include "data/cache_writer.h"
#include "data/normalize.h"
#include "data/phantom_source.h"
#include "eval/bootstrap.h"
#include "infer/cache_eval.h"
#include "train/finetuner.h"
#include "train/pretrainer.h"
#include "train/run_util.h"
#include "viz/mip.h"
#include "viz/plot.h"
#include "viz/png.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

void ExperimentConfig::validate() const {
  if (preset != "demo" && preset != "paper" && preset != "smoke")
    throw Error("experiment: --preset must be 'demo', 'paper' or 'smoke'");
  if (out.empty()) throw Error("experiment: --out DIR is required");
  if (device != "cpu" && device.rfind("cuda", 0) != 0) throw Error("experiment: --device must be cpu or cuda[:N]");
  if (workers < 0) throw Error("experiment: --workers must be >= 0");
}

namespace {

struct Plan {
  std::string phantom;  // phantom preset
  int64_t pre_cases, seg_cases, stage_cases;
  std::array<int64_t, 3> wb;
  std::string model;
  int64_t pre_steps, pre_epochs, pre_batch;
  int64_t seg_steps, seg_epochs, seg_batch;
  int64_t stage_steps, stage_epochs, stage_batch;
  std::vector<double> more_fractions;  // beyond 20%, for baseline and FratMAE (Table 3)
  double test_fraction;
  double pre_lr, seg_lr, stage_lr;     // 0 = the engine's default (the paper's)
  int64_t feature_size;                // UNETR width
  double lesion_prob, overlap;         // seg crops; sliding-window evaluation
  int64_t bootstrap = 1000;            // samples of the CIs
};

Plan plan_for(const std::string& preset) {
  if (preset == "smoke")  // every stage for a step or two: checks an installation in a minute
    return {"small", 6, 8, 8, {32, 32, 48}, "tiny", 3, 1, 2, 2, 1, 2, 2, 1, 2, {}, 0.25,
            1e-3, 2e-3, 1e-3, 4, 0.67, 0.0, 100};
  if (preset == "demo")  // tiny model, small phantoms: about ten minutes on two CPU cores
    return {"small", 24, 32, 60, {32, 32, 48}, "tiny", 400, 1, 8, 250, 1, 2, 150, 1, 4, {}, 0.25,
            1e-3, 2e-3, 1e-3, 4, 0.67, 0.25};
  // The paper's schedule (§2.4): 30 epochs of pre-training at batch 24, 200 epochs of
  // segmentation at batch 16, 500 epochs of staging at batch 2.
  return {"full", 400, 200, 120, {160, 160, 192}, "paper", 0, 30, 24, 0, 200, 16, 0, 500, 2, {0.4, 1.0}, 0.2,
          0, 0, 0, 16, 0.5, 0.5};
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

void build_phantom_cache(const fs::path& dir, const std::string& phantom, const std::string& cohort, int64_t cases,
                         uint64_t seed, const std::array<int64_t, 3>& wb, bool native, const std::string& device) {
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
  const data::BuildReport r = data::build_cache(w, data::phantom_jobs(pc), bo);
  if (r.failed) throw Error("experiment: " + std::to_string(r.failed) + " phantom case(s) failed in " + dir.string());
  w.commit();
}

std::string fraction_name(double f) { return std::to_string(static_cast<int>(std::lround(f * 100))) + "pct"; }

// A fine-tuning run's folder name: init (or baseline), training fraction, stack.
std::string run_name(const std::string& init, double fraction, const std::string& stack) {
  return (init.empty() ? std::string("baseline") : init) + "_" + fraction_name(fraction) + (stack == "axial" ? "_axial" : "");
}

// What every run of an experiment shares.
template <class Config>
void set_common(Config& c, const ExperimentConfig& cfg) {
  c.seed = cfg.seed;
  c.device = cfg.device;
  c.bf16 = cfg.bf16;
  c.workers = cfg.workers;
  c.log_every = 5;
  c.checkpoint_every = 1000;
}

json summary_of(const fs::path& run) {
  const json m = json::parse(read_file(run / "test" / "metrics.json"));
  return m["summary"];
}

// Coronal MIPs of one test case: the truth beside the predictions of the given runs.
void write_examples(const fs::path& png, const data::Cache& cache, const std::vector<fs::path>& runs,
                    const std::string& device, double overlap) {
  // The test case with the largest lesion volume shows the most.
  const fs::path first = runs.front();
  const json cfg = json::parse(read_file(first / "config.json"));
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
  std::vector<at::Tensor> panels{viz::render_mip(suv, at::Tensor(), c.nat_seg, sp)};
  for (const auto& run : runs) {
    DownstreamModel dm = load_finetuned(run, device);
    infer::SlidingWindowConfig sw;
    sw.overlap = overlap;
    const auto r = infer::segment_volume(dm.seg, ct_n, pet_n, sw, torch::Device(device), true);
    panels.push_back(viz::render_mip(suv, at::Tensor(), r.mask, sp));
  }
  std::vector<at::Tensor> row;
  for (const auto& p : panels) {
    row.push_back(p);
    row.push_back(at::full({p.size(0), 8, 3}, 255, at::kByte));  // white gap
  }
  row.pop_back();
  viz::write_png(png, at::cat(row, 1));
}

}  // namespace

json run_experiment(const ExperimentConfig& cfg) {
  cfg.validate();
  const Plan plan = plan_for(cfg.preset);
  const fs::path out(cfg.out);
  fs::create_directories(out / "pictures");
  const auto t_start = std::chrono::steady_clock::now();
  json seconds = json::object();

  // 1. Cohorts -> caches (incremental: finished cases are kept).
  auto t = std::chrono::steady_clock::now();
  spdlog::info("experiment {}: [1/4] phantom cohorts and caches in {}", cfg.preset, (out / "caches").string());
  build_phantom_cache(out / "caches" / "pretrain", plan.phantom, "autopet", plan.pre_cases, cfg.seed + 101, plan.wb, false, cfg.device);
  build_phantom_cache(out / "caches" / "seg", plan.phantom, "autopet", plan.seg_cases, cfg.seed + 202, plan.wb, true, cfg.device);
  build_phantom_cache(out / "caches" / "stage", plan.phantom, "hodgkin", plan.stage_cases, cfg.seed + 303, plan.wb, false, cfg.device);
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

  // 3. Fine-tuning runs.
  struct Run {
    std::string task, init, stack;
    double fraction;
    fs::path dir;
  };
  std::vector<Run> runs;
  auto add = [&](const std::string& task, const std::string& init, double fraction, const std::string& stack) {
    const std::string name = run_name(init, fraction, stack);
    for (const Run& r : runs)
      if (r.dir == out / "finetune" / task / name) return;
    runs.push_back({task, init, stack, fraction, out / "finetune" / task / name});
  };
  for (const char* task : {"seg", "stage"}) {
    for (const auto& [method, label] : table3_settings()) add(task, method, 0.2, "coronal");
    for (double f : plan.more_fractions) {
      add(task, "", f, "coronal");
      add(task, "fratmae", f, "coronal");
    }
    add(task, "", 1.0, "coronal");  // Table 2
    add(task, "", 1.0, "axial");
  }
  t = std::chrono::steady_clock::now();
  int64_t k = 0;
  for (const Run& r : runs) {
    ++k;
    if (fs::exists(r.dir / "test" / "metrics.json")) continue;
    FinetuneConfig fc;
    fc.task = r.task;
    fc.cache = (out / "caches" / (r.task == "seg" ? "seg" : "stage")).string();
    fc.out = r.dir.string();
    fc.init = r.init.empty() ? "" : (out / "pretrain" / r.init).string();
    fc.preset = plan.model;
    fc.stack = r.stack;
    fc.train_fraction = r.fraction;
    fc.test_fraction = plan.test_fraction;
    fc.split_seed = cfg.seed;
    fc.steps = r.task == "seg" ? plan.seg_steps : plan.stage_steps;
    fc.epochs = r.task == "seg" ? plan.seg_epochs : plan.stage_epochs;
    fc.batch = r.task == "seg" ? plan.seg_batch : plan.stage_batch;
    set_common(fc, cfg);
    fc.lr = r.task == "seg" ? plan.seg_lr : plan.stage_lr;
    fc.feature_size = plan.feature_size;
    fc.lesion_prob = plan.lesion_prob;
    fc.overlap = plan.overlap;
    fc.bootstrap = plan.bootstrap;
    spdlog::info("experiment {}: [3/4] fine-tuning {}/{}: {}", cfg.preset, k, runs.size(), r.dir.string());
    finetune(fc, fs::exists(r.dir / "config.json"));
    if (stop_request().load()) throw Error("experiment: stopped; run the same command again to continue");
  }
  seconds["finetune"] = seconds_since(t);

  // 4. Report.
  spdlog::info("experiment {}: [4/4] report", cfg.preset);
  auto result = [&](const std::string& init, double f, const std::string& stack) {
    json row;
    for (const char* task : {"seg", "stage"}) {
      const std::string name = run_name(init, f, stack);
      const fs::path dir = out / "finetune" / task / name;
      row[task] = summary_of(dir);
      row[std::string(task) + "_run"] = fs::relative(dir, out).string();
    }
    return row;
  };
  json table2 = json::array(), table3 = json::array();
  for (const char* stack : {"axial", "coronal"}) {
    json row = result("", 1.0, stack);
    row["approach"] = std::string(stack) + " stacks";
    table2.push_back(row);
  }
  std::vector<double> fractions{0.2};
  for (double f : plan.more_fractions) fractions.push_back(f);
  for (double f : fractions)
    for (const auto& [method, label] : table3_settings()) {
      if (f != 0.2 && !(method.empty() || method == "fratmae")) continue;
      json row = result(method, f, "coronal");
      row["train_set"] = fraction_name(f).substr(0, fraction_name(f).size() - 3) + "%";
      row["setting"] = label;
      table3.push_back(row);
    }

  // Pictures: example segmentations of the baseline and FratMAE at 20%.
  {
    auto cache = data::Cache::open(out / "caches" / "seg");
    write_examples(out / "pictures" / "segmentation_examples.png", *cache,
                   {out / "finetune" / "seg" / "baseline_20pct", out / "finetune" / "seg" / "fratmae_20pct"}, cfg.device,
                   plan.overlap);
  }
  seconds["total"] = seconds_since(t_start);
  const json report = {
      {"preset", cfg.preset},
      {"model", plan.model},
      {"data",
       {{"phantom", plan.phantom},
        {"pretraining_cases", plan.pre_cases},
        {"segmentation_cases", plan.seg_cases},
        {"staging_cases", plan.stage_cases},
        {"test_fraction", plan.test_fraction},
        {"whole_body_size", plan.wb}}},
      {"schedule",
       {{"pretrain", {{"steps", plan.pre_steps}, {"epochs", plan.pre_epochs}, {"batch", plan.pre_batch}}},
        {"seg", {{"steps", plan.seg_steps}, {"epochs", plan.seg_epochs}, {"batch", plan.seg_batch}}},
        {"stage", {{"steps", plan.stage_steps}, {"epochs", plan.stage_epochs}, {"batch", plan.stage_batch}}},
        {"learning_rates", {{"pretrain", plan.pre_lr}, {"seg", plan.seg_lr}, {"stage", plan.stage_lr}}},
        {"unetr_feature_size", plan.feature_size},
        {"sliding_window_overlap", plan.overlap}}},
      {"bootstrap", {{"samples", plan.bootstrap}, {"level", 0.95}, {"seed", cfg.seed}}},
      {"table2", table2},
      {"table3", table3},
      {"seconds", seconds},
      {"pictures", {"pictures/pretrain_loss.svg", "pictures/segmentation_examples.png"}}};
  write_file_atomic(out / "report.json", report.dump(2) + "\n");
  write_file_atomic(out / "report.md", experiment_markdown(report));
  spdlog::info("experiment {}: done in {:.0f} s; report in {}", cfg.preset, seconds["total"].get<double>(),
               (out / "report.md").string());
  return report;
}

namespace {
std::string cell(const json& summary, const char* key) {
  return summary.contains(key) ? eval::Interval::from_json(summary[key]).to_string(3) : "n/a";
}
}  // namespace

std::string experiment_markdown(const json& r) {
  std::string md = "# FratMAE experiment (`" + r["preset"].get<std::string>() + "` preset)\n\n";
  md += "Phantom cohorts (" + r["data"]["phantom"].get<std::string>() + "): " +
        std::to_string(r["data"]["pretraining_cases"].get<int64_t>()) + " pre-training, " +
        std::to_string(r["data"]["segmentation_cases"].get<int64_t>()) + " segmentation, " +
        std::to_string(r["data"]["staging_cases"].get<int64_t>()) + " staging (Hodgkin) cases; " +
        std::to_string(static_cast<int>(std::lround(r["data"]["test_fraction"].get<double>() * 100))) +
        "% of each downstream cohort held out for testing. Model: `" + r["model"].get<std::string>() +
        "`. Dice and IoU: lesion segmentation on the test cases with lesions; sens. (macro sensitivity) and acc. "
        "(accuracy): Ann Arbor staging, early (I-II) vs advanced (III-IV). Mean (95% CI from " +
        std::to_string(r["bootstrap"]["samples"].get<int64_t>()) +
        " bootstrap samples over test cases). Synthetic data and a small model: the numbers show the protocol working, "
        "not the paper's results.\n\n";
  md += "## Table 2: input stacks (no pre-training, whole training split)\n\n";
  md += "| approach | Dice (95% CI) | IoU (95% CI) | sens. (95% CI) | acc. (95% CI) |\n|---|---|---|---|---|\n";
  for (const json& row : r["table2"])
    md += "| " + row["approach"].get<std::string>() + " | " + cell(row["seg"], "dice") + " | " + cell(row["seg"], "iou") +
          " | " + cell(row["stage"], "macro_sensitivity") + " | " + cell(row["stage"], "accuracy") + " |\n";
  md += "\n## Table 3: pre-training settings\n\n";
  md += "| train set | setting | Dice (95% CI) | IoU (95% CI) | sens. (95% CI) | acc. (95% CI) |\n"
        "|---|---|---|---|---|---|\n";
  for (const json& row : r["table3"])
    md += "| " + row["train_set"].get<std::string>() + " | " + row["setting"].get<std::string>() + " | " +
          cell(row["seg"], "dice") + " | " + cell(row["seg"], "iou") + " | " + cell(row["stage"], "macro_sensitivity") +
          " | " + cell(row["stage"], "accuracy") + " |\n";
  md += "\n## Pictures\n\n";
  md += "- `pictures/pretrain_loss.svg`: pre-training loss of each variant (each run's own curves: "
        "`pretrain/<method>/loss.svg`; fine-tuning: `finetune/<task>/<run>/loss.svg`).\n";
  md += "- `pictures/segmentation_examples.png`: coronal PET MIPs of the test case with the most lesion volume, "
        "outlines in red, left to right: truth, baseline (20%), FratMAE (20%).\n";
  md += "\n## Time\n\n";
  for (const auto& [k, v] : r["seconds"].items()) {
    char line[80];
    std::snprintf(line, sizeof(line), "- %s: %.0f s\n", k.c_str(), v.get<double>());
    md += line;
  }
  md += "\nPer-case results: `finetune/<task>/<run>/test/cases.csv`; everything above: `report.json`.\n";
  return md;
}

}  // namespace fratmae::train
