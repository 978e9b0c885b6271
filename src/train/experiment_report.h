// The statistics and the text of `fratmae experiment`'s report, from the test results its runs
// wrote (RUN/test/metrics.json, and the reference floors' metrics.json in the same format).
//
// A setting (e.g. "FratMAE at 20%") is one run per fine-tuning seed, all scored on the same
// test cases; a reference floor is a setting with one "seed". For each metric the cases used are
// those where every run of the task defines it (Dice: the cases with lesions; false-positive
// volume: all), so every setting and every comparison of a task is computed on the same cases.
// Settings: seed mean with a 95% bootstrap CI over cases, per-seed values and their SD
// (eval/compare.h). Comparisons: paired bootstrap differences A - B on the same cases.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/bootstrap.h"

namespace fratmae::train {

struct SettingSpec {
  std::string key;    // unique: "seg/baseline_20pct", "stage/majority", ...
  std::string task;   // seg | stage
  std::string label;  // as the tables show it
  std::vector<std::filesystem::path> results;  // metrics.json of each seed's run
};

struct ComparisonSpec {
  std::string what;   // "FratMAE - baseline (20%)"
  std::string a, b;   // setting keys of one task
  std::string claim;  // what A > B would show ("the paper's Table 2: ..."); empty: no claim
};

/// The metrics a task's settings and comparisons are summarised on.
const std::vector<std::string>& report_metrics(const std::string& task);

/// {"settings": {key: {"task", "label", "runs", "metrics": {metric: SettingSummary}, "detection_by_size"}},
///  "order": [keys in the order given],
///  "comparisons": [{"what", "task", "a", "b", "claim", "metrics": {metric: {difference interval, "verdict"}}}]}.
/// Throws FileError naming a results file that is missing, unreadable or scores other cases.
nlohmann::json aggregate_results(const std::vector<SettingSpec>& settings, const std::vector<ComparisonSpec>& comparisons,
                                 const eval::BootstrapOptions& bo, const std::filesystem::path& relative_to);

/// For a claim "A beats B" (`claim`, one of aggregate_results' comparisons) shown between two
/// learned settings: where every comparison of A with a reference floor of its task ("A - floor",
/// a key with "/floor_") includes 0 or is below it, a clause saying so; A then beats B between
/// models no better than the floor, which is not the paper's effect. Empty otherwise (not shown,
/// B a floor, or no comparison of A with a floor).
std::string floor_caveat(const nlohmann::json& comparisons, const nlohmann::json& claim);

/// report.md from report.json's content.
std::string experiment_markdown(const nlohmann::json& report);

}  // namespace fratmae::train
