// `fratmae evaluate`: predicted lesion masks against the truth, per case and over cases with
// 95% bootstrap intervals (eval/seg_metrics.h for the metrics and AutoPET's conventions).
//
// Cases come from the truth folder: sub-folders holding SEG.nii.gz (the AutoPET / phantom
// layout), or image files named after the case (CASE.nii.gz, .nrrd, .mha). A case's prediction
// is PRED/CASE/SEG.nii.gz (what `fratmae predict` writes) or PRED/CASE.<ext>. Prediction and
// truth must lie on the same grid.
#pragma once

#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace fratmae::io {

struct EvaluateConfig {
  std::filesystem::path pred, truth;
  std::filesystem::path out;  // where metrics.json and cases.csv go (default: PRED/evaluation)
  int64_t bootstrap = 1000;
  uint64_t seed = 0;
  bool overwrite = false;
};

/// Scores every case; returns metrics.json's content. Throws FileError naming a missing
/// prediction, an unreadable file or mismatched grids.
nlohmann::json evaluate_folders(const EvaluateConfig& cfg);

/// The summary as a text table (one line per metric: mean (95% CI), n).
std::string summary_table(const nlohmann::json& summary);

}  // namespace fratmae::io
