#include "io/evaluate_files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/provenance.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "eval/bootstrap.h"
#include "infer/cache_eval.h"
#include "io/image_io.h"

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

std::vector<std::pair<std::string, fs::path>> truth_cases(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "no such folder (--truth)");
  std::vector<std::pair<std::string, fs::path>> cases;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() && fs::exists(e.path() / "SEG.nii.gz")) cases.emplace_back(e.path().filename().string(), e.path() / "SEG.nii.gz");
    else if (e.is_regular_file() && is_image_file(e.path())) cases.emplace_back(case_id_of(e.path()), e.path());
  }
  std::sort(cases.begin(), cases.end());
  if (cases.empty()) throw FileError(dir, "holds no truth masks (CASE/SEG.nii.gz or CASE.nii.gz)");
  return cases;
}

fs::path find_prediction(const fs::path& pred, const std::string& id) {
  std::error_code ec;
  if (fs::exists(pred / id / "SEG.nii.gz", ec)) return pred / id / "SEG.nii.gz";
  for (const char* ext : {".nii.gz", ".nii", ".nrrd", ".mha"})
    if (fs::exists(pred / (id + ext), ec)) return pred / (id + ext);
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

json evaluate_folders(const EvaluateConfig& cfg) {
  if (cfg.pred.empty() || cfg.truth.empty()) throw Error("evaluate: --pred and --truth are required");
  std::error_code ec;
  if (!fs::is_directory(cfg.pred, ec)) throw FileError(cfg.pred, "no such folder (--pred)");
  const auto cases = truth_cases(cfg.truth);
  std::vector<std::string> missing;
  for (const auto& [id, t] : cases)
    if (find_prediction(cfg.pred, id).empty()) missing.push_back(id);
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
    throw FileError(cfg.pred, "has no prediction for " + std::to_string(missing.size()) + " truth case(s): " + list +
                                  (missing.size() > 10 ? ", ..." : "") + " (expected PRED/CASE/SEG.nii.gz or PRED/CASE.nii.gz)");
  }
  const fs::path out_dir = cfg.out.empty() ? cfg.pred / "evaluation" : cfg.out;
  StagedOutputs out(out_dir, cfg.overwrite);
  infer::SegEvaluation e;
  for (const auto& [id, truth_path] : cases) {
    const fs::path pred_path = find_prediction(cfg.pred, id);
    const Volume t = read_labels(truth_path), p = read_labels(pred_path);
    if (!t.geom.same_grid(p.geom))
      throw FileError(pred_path, "does not lie on the grid of its truth " + truth_path.string() + " (prediction " +
                                     p.geom.to_string() + ", truth " + t.geom.to_string() + ")");
    e.ids.push_back(id);
    e.cases.push_back(eval::segmentation_metrics(p.data, t.data, t.geom.voxel_volume_mm3() / 1000.0));
  }
  eval::BootstrapOptions bo;
  bo.samples = cfg.bootstrap;
  bo.seed = cfg.seed;
  e.summary = infer::summarize_segmentation(e.cases, bo);
  json result = infer::evaluation_json(e);
  result["provenance"] = provenance();
  result["inputs"] = {{"pred", input_record(cfg.pred)}, {"truth", input_record(cfg.truth)}};
  out.write_text("metrics.json", result.dump(2) + "\n");
  out.write_text("cases.csv", infer::evaluation_csv(e));
  out.commit();
  return result;
}

}  // namespace fratmae::io
