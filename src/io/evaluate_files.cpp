#include "io/evaluate_files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include <spdlog/fmt/fmt.h>

#include "core/provenance.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "eval/bootstrap.h"
#include "infer/cache_eval.h"
#include "data/metadata.h"
#include "io/autopet_layout.h"
#include "io/dataset_import.h"
#include "io/image_io.h"
#include "io/report_html.h"
#include "io/predict_folder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

std::string case_id_of(const fs::path& file) {
  std::string name = file.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"})
    if (name.size() > std::strlen(ext) && name.compare(name.size() - std::strlen(ext), std::string::npos, ext) == 0)
      return name.substr(0, name.size() - std::strlen(ext));
  return name;
}

// A truth case: its id, its mask (segmentation), and what the metadata says.
struct TruthCase {
  std::string id;
  fs::path mask;
  fs::path suv, ct;    // a dataset's images of the case (report.html's viewer); empty when unknown
  std::string tracer;  // "" unknown
  int stage = 0;       // Ann Arbor 1..4, 0 unknown
};

// The tracer an AutoPET III case id names (fdg_..., psma_...), "" otherwise.
std::string tracer_of_id(const std::string& id) {
  const std::string leaf = fs::path(id).filename().string();
  if (leaf.rfind("fdg_", 0) == 0) return "18F-FDG";
  if (leaf.rfind("psma_", 0) == 0) return "PSMA";
  return "";
}

bool is_dataset(const fs::path& dir) { return is_nnunet_dataset(dir) || !find_image_cases(dir).empty(); }

std::vector<TruthCase> truth_cases(const EvaluateConfig& cfg) {
  const fs::path& dir = cfg.truth;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "no such folder (--truth)");
  std::vector<TruthCase> cases;
  if (is_dataset(dir)) {  // a dataset: its cases, with their metadata (tracer, stage)
    for (const DatasetCase& c : discover_dataset(dir, cfg.metadata)) {
      if (cfg.task == "seg" && c.seg.empty()) continue;
      if (cfg.task == "stage" && c.meta.stage == 0) continue;
      cases.push_back({c.id, c.seg, c.suv, c.ct, c.meta.tracer.empty() ? tracer_of_id(c.id) : c.meta.tracer, c.meta.stage});
    }
  } else {  // a folder of masks
    if (cfg.task == "stage")
      throw FileError(dir, "holds no dataset with stages (staging truth comes from a dataset's metadata: --truth "
                           "DATASET, e.g. a phantom cohort with metadata.csv)");
    if (!cfg.metadata.empty())
      throw FileError(dir, "is a folder of masks: --metadata goes with a dataset folder as --truth");
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && fs::exists(e.path() / "SEG.nii.gz"))
        cases.push_back({e.path().filename().string(), e.path() / "SEG.nii.gz", {}, {}, "", 0});
      else if (e.is_regular_file() && is_image_file(e.path()))
        cases.push_back({case_id_of(e.path()), e.path(), {}, {}, "", 0});
    }
    for (TruthCase& c : cases) c.tracer = tracer_of_id(c.id);
  }
  std::sort(cases.begin(), cases.end(), [](const TruthCase& a, const TruthCase& b) { return a.id < b.id; });
  if (cases.empty())
    throw FileError(dir, cfg.task == "seg" ? "holds no truth masks (CASE/SEG.nii.gz, CASE.nii.gz, or a dataset's labels)"
                                           : "holds no case with a known stage (the metadata's stage column)");
  return cases;
}

// PRED/CASE/FILE, PRED/<stem>/FILE, or (segmentation) PRED/CASE.<ext> / PRED/<stem>.<ext>.
fs::path find_prediction(const fs::path& pred, const std::string& id, const std::string& task) {
  std::error_code ec;
  const std::string file = task == "seg" ? "SEG.nii.gz" : "stage.json";
  for (const std::string& name : {id, output_stem(id)}) {
    if (fs::exists(pred / name / file, ec)) return pred / name / file;
    if (task == "seg")
      for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"})
        if (fs::exists(pred / (name + ext), ec)) return pred / (name + ext);
  }
  return {};
}

}  // namespace

std::string summary_table(const json& summary) {
  std::string s;
  char line[160];
  std::snprintf(line, sizeof(line), "%-16s %-26s %s\n", "metric", "mean (95% CI)", "cases");
  s += line;
  for (const auto& [name, v] : summary.items()) {
    const eval::Interval iv = eval::Interval::from_json(v);
    std::snprintf(line, sizeof(line), "%-16s %-26s %lld\n", name.c_str(), iv.to_string(3).c_str(),
                  static_cast<long long>(iv.n));
    s += line;
  }
  return s;
}

namespace {

void require_predictions(const EvaluateConfig& cfg, const std::vector<TruthCase>& cases) {
  std::vector<std::string> missing;
  for (const TruthCase& c : cases)
    if (find_prediction(cfg.pred, c.id, cfg.task).empty()) missing.push_back(c.id);
  if (missing.empty()) return;
  std::string list;
  for (size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
  throw FileError(cfg.pred, "has no prediction for " + std::to_string(missing.size()) + " truth case(s): " + list +
                                (missing.size() > 10 ? ", ..." : "") +
                                (cfg.task == "seg" ? " (expected PRED/CASE/SEG.nii.gz or PRED/CASE.nii.gz)"
                                                   : " (expected PRED/CASE/stage.json, from fratmae predict)"));
}

// The case a page shows: the one with the largest truth volume, its masks as scored.
struct ExampleCase {
  size_t index = 0;
  Volume truth, pred;
};

// report.html: the summary and per-case tables, and the example case in the viewer (its PET and
// CT when the truth is a dataset), the truth and the prediction to choose from.
void write_seg_page(const EvaluateConfig& cfg, const std::vector<TruthCase>& cases, const infer::SegEvaluation& e,
                    const ExampleCase& ex, StagedOutputs& out) {
  ResultsPage r;
  const fs::path pred = fs::absolute(cfg.pred).lexically_normal();
  r.title = "fratmae evaluate: " + (pred.has_filename() ? pred.filename() : pred.parent_path().filename()).string();
  r.facts["predictions"] = pred.string();
  r.facts["truth"] = fs::absolute(cfg.truth).lexically_normal().string();
  std::string md = "# Segmentation, " + std::to_string(cases.size()) +
                   " cases\n\nMean over cases with a 95% bootstrap CI (" + std::to_string(cfg.bootstrap) +
                   " samples); Dice, IoU, sensitivity and the false-negative volume over the cases with lesions, "
                   "the false-positive volume over all (AutoPET's rules; 18-connected lesions).\n\n"
                   "| metric | mean (95% CI) | cases |\n|---|---|---|\n";
  for (const auto& [name, v] : e.summary.items()) {
    const eval::Interval iv = eval::Interval::from_json(v);
    md += "| " + name + " | " + iv.to_string(3) + " | " + std::to_string(iv.n) + " |\n";
  }
  md += "\n## Per case\n\n| case | Dice | FP volume (mL) | FN volume (mL) | truth (mL) | predicted (mL) | lesions (truth / "
        "predicted) |\n|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < e.cases.size(); ++i) {
    const eval::SegMetrics& m = e.cases[i];
    md += fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} / {} |\n", e.ids[i],
                      std::isnan(m.dice) ? std::string("-") : fmt::format("{:.3f}", m.dice), m.fp_volume_ml,
                      m.fn_volume_ml, m.truth_volume_ml, m.pred_volume_ml, m.truth_lesions, m.pred_lesions);
  }
  r.markdown = md;
  const TruthCase& c = cases[ex.index];
  r.example = "case " + c.id + " (the largest truth volume)";
  std::error_code ec;
  const std::string truth = nifti_gz_bytes(ex.truth);
  if (!c.ct.empty() && fs::exists(c.ct, ec)) r.volumes.push_back(ct_volume(nifti_gz_bytes(read_image(c.ct))));
  if (!c.suv.empty() && fs::exists(c.suv, ec)) r.volumes.push_back(pet_volume(nifti_gz_bytes(read_image(c.suv)), !r.volumes.empty()));
  if (r.volumes.empty()) r.volumes.push_back({"grid.nii.gz", truth, "gray", 0.5, 1, 1.0});  // a background to draw on
  r.volumes.push_back(mask_volume("truth.nii.gz", truth, "truth"));
  r.volumes.push_back(mask_volume("prediction.nii.gz", nifti_gz_bytes(ex.pred), "prediction"));
  const PageBundles b = page_bundles("evaluate");
  out.write_text("report.html", results_page_html(r, b.viewer, b.markdown));
}

json evaluate_stage(const EvaluateConfig& cfg, const std::vector<TruthCase>& cases, StagedOutputs& out) {
  infer::StageEvaluation e;
  for (const TruthCase& c : cases) {
    const fs::path f = find_prediction(cfg.pred, c.id, "stage");
    json j;
    try {
      j = json::parse(read_file(f));
    } catch (const json::exception& ex) {
      throw FileError(f, std::string("is not valid JSON: ") + ex.what());
    }
    const json st = j.contains("stage") ? j["stage"] : j;  // stage.json or a prediction.json
    if (!st.contains("probabilities") || !st["probabilities"].contains("advanced (III-IV)"))
      throw FileError(f, "holds no stage probabilities (a staging model's stage.json)");
    const double p = st["probabilities"]["advanced (III-IV)"].get<double>();
    e.ids.push_back(c.id);
    e.truth.push_back(data::stage_label(c.stage));
    e.p_advanced.push_back(p);
    e.pred.push_back(p > 0.5 ? 1 : 0);
  }
  eval::BootstrapOptions bo;
  bo.samples = cfg.bootstrap;
  bo.seed = cfg.seed;
  infer::summarize_staging(e, bo);
  json result = infer::evaluation_json(e);
  int64_t advanced = 0;
  for (int64_t t : e.truth) advanced += t;
  result["truth_counts"] = {{"early (I-II)", static_cast<int64_t>(e.truth.size()) - advanced},
                            {"advanced (III-IV)", advanced}};
  result["provenance"] = provenance();
  result["inputs"] = {{"pred", input_record(cfg.pred)}, {"truth", input_record(cfg.truth)}};
  out.write_text("metrics.json", result.dump(2) + "\n");
  out.write_text("cases.csv", infer::evaluation_csv(e));
  return result;
}

}  // namespace

json evaluate_folders(const EvaluateConfig& cfg) {
  if (cfg.pred.empty() || cfg.truth.empty()) throw Error("evaluate: --pred and --truth are required");
  if (cfg.task != "seg" && cfg.task != "stage") throw Error("evaluate: --task must be seg or stage");
  std::error_code ec;
  if (!fs::is_directory(cfg.pred, ec)) throw FileError(cfg.pred, "no such folder (--pred)");
  const std::vector<TruthCase> cases = truth_cases(cfg);
  require_predictions(cfg, cases);
  const fs::path out_dir = cfg.out.empty() ? cfg.pred / "evaluation" : cfg.out;
  StagedOutputs out(out_dir, cfg.overwrite);
  if (cfg.task == "stage") {
    json r = evaluate_stage(cfg, cases, out);
    out.commit();
    return r;
  }
  infer::SegEvaluation e;
  std::map<std::string, std::vector<size_t>> by_tracer;
  ExampleCase example;  // for report.html, kept as read
  for (const TruthCase& c : cases) {
    const fs::path pred_path = find_prediction(cfg.pred, c.id, "seg");
    Volume t = read_labels(c.mask), p = read_labels(pred_path);
    if (!t.geom.same_grid(p.geom))
      throw FileError(pred_path, "does not lie on the grid of its truth " + c.mask.string() + " (prediction " +
                                     p.geom.to_string() + ", truth " + t.geom.to_string() + ")");
    by_tracer[c.tracer.empty() ? "unknown" : c.tracer].push_back(e.ids.size());
    e.ids.push_back(c.id);
    e.cases.push_back(eval::segmentation_metrics(p.data, t.data, t.geom.voxel_volume_mm3() / 1000.0));
    if (cfg.report && (e.cases.size() == 1 || e.cases.back().truth_volume_ml > e.cases[example.index].truth_volume_ml))
      example = {e.cases.size() - 1, std::move(t), std::move(p)};
  }
  eval::BootstrapOptions bo;
  bo.samples = cfg.bootstrap;
  bo.seed = cfg.seed;
  e.summary = infer::summarize_segmentation(e.cases, bo);
  json result = infer::evaluation_json(e);
  for (size_t i = 0; i < cases.size(); ++i) result["cases"][i]["tracer"] = cases[i].tracer.empty() ? json(nullptr) : json(cases[i].tracer);
  if (by_tracer.size() > 1 || (by_tracer.size() == 1 && !by_tracer.count("unknown"))) {
    json bt = json::object();
    for (const auto& [tracer, idx] : by_tracer) {
      std::vector<eval::SegMetrics> sub;
      for (size_t i : idx) sub.push_back(e.cases[i]);
      bt[tracer] = {{"cases", idx.size()}, {"summary", infer::summarize_segmentation(sub, bo)}};
    }
    result["by_tracer"] = bt;
  }
  result["provenance"] = provenance();
  result["inputs"] = {{"pred", input_record(cfg.pred)}, {"truth", input_record(cfg.truth)}};
  out.write_text("metrics.json", result.dump(2) + "\n");
  out.write_text("cases.csv", infer::evaluation_csv(e));
  if (cfg.report) write_seg_page(cfg, cases, e, example, out);
  out.commit();
  return result;
}

}  // namespace fratmae::io
