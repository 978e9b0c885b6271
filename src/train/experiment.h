// `fratmae experiment`: the paper's downstream comparison (Tables 2 and 3) reproduced end to end
// on phantom cohorts, as switches of one implementation.
//
//   1. cohorts  -> caches: a pre-training cohort (AutoPET-like), a segmentation cohort
//                  (AutoPET-like, native copies), a staging cohort (Hodgkin, Ann Arbor stages)
//   2. pre-train the four variants of Table 3: MAE, MAE + ContextAlign, FratMAE w/o
//      ContextAlign, FratMAE
//   3. fine-tune segmentation and staging from each (and from scratch, the baseline) on a
//      fraction of the training split (20%; `paper` also 40% and 100% for baseline and FratMAE),
//      and from scratch on coronal and on axial stacks with the whole training split (Table 2)
//   4. evaluate on the held-out test split: Dice, IoU (segmentation), macro sensitivity,
//      accuracy (staging), 95% intervals from 1,000 bootstrap samples over cases
//   5. OUT/report.md and OUT/report.json in the paper's table layout, OUT/pictures/
//
// Presets: `demo` (tiny model, small phantoms, a few hundred steps: minutes on two CPU cores),
// `paper` (the paper's model, schedule and batch sizes on full-size phantoms: a GPU job) and
// `smoke` (every stage for a step or two on a handful of cases: a one-minute installation check).
// Every stage is kept in OUT; running the command again skips what is finished and resumes
// what is not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::train {

struct ExperimentConfig {
  std::string preset = "demo";  // demo | paper | smoke
  std::string out;
  std::string device = "cpu";
  bool bf16 = true;
  int workers = 2;
  uint64_t seed = 0;
  void validate() const;
};

/// Runs (or continues) the experiment and writes the report; returns report.json's content.
nlohmann::json run_experiment(const ExperimentConfig& cfg);

/// report.md from report.json's content (the paper's Tables 2 and 3 with CIs).
std::string experiment_markdown(const nlohmann::json& report);

}  // namespace fratmae::train
