// `fratmae evaluate`: predictions against the truth, per case and over cases with 95% bootstrap
// intervals.
//
// Segmentation (eval/seg_metrics.h: AutoPET III's rules: Dice and false-negative volume over
// cases with lesions, false-positive volume over all, 18-connected components). The truth is a
// folder of masks (CASE/SEG.nii.gz or CASE.nii.gz: an nnU-Net labelsTr/) or a dataset folder
// (`preprocess`'s layouts: an AutoPET III nnU-Net folder, AutoPET I/II, a phantom cohort), whose
// metadata (or an AutoPET III id's fdg_/psma_ prefix) names each case's tracer: then the summary
// is also given per tracer. A case's prediction is PRED/CASE/SEG.nii.gz (what `predict` writes)
// or PRED/CASE.<ext> ('/' in an id may be '__', as `predict --input` names them). Prediction and
// truth must lie on the same grid.
//
// Staging (--task stage): PRED/CASE/stage.json (a staging model's `predict`) against the stage
// of the dataset's metadata (early I-II, advanced III-IV): accuracy and macro sensitivity.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::io {

struct EvaluateConfig {
  std::filesystem::path pred, truth;
  std::filesystem::path out;  // where metrics.json and cases.csv go (default: PRED/evaluation)
  std::string task = "seg";  // seg | stage
  std::vector<std::filesystem::path> metadata;  // with a dataset as truth: its tables (default: those in it)
  int64_t bootstrap = 1000;
  uint64_t seed = 0;
  bool overwrite = false;
  bool report = true;  // segmentation: also report.html (the tables and the largest case in a viewer)
};

/// Scores every case; returns metrics.json's content. Throws FileError naming a missing
/// prediction, an unreadable file or mismatched grids.
nlohmann::json evaluate_folders(const EvaluateConfig& cfg);

/// The summary as a text table (one line per metric: mean (95% CI), n).
std::string summary_table(const nlohmann::json& summary);

}  // namespace fratmae::io
