// `fratmae experiment`: the paper's downstream comparison (Tables 2 and 3) reproduced end to end
// on phantom cohorts, as switches of one implementation.
//
//   1. cohorts  -> caches: a pre-training cohort (AutoPET-like, much larger than the labelled
//                  ones), a segmentation cohort (AutoPET-like, native copies), a staging cohort
//                  (Hodgkin, Ann Arbor stages)
//   2. pre-train the four variants of Table 3: MAE, MAE + ContextAlign, FratMAE w/o
//      ContextAlign, FratMAE
//   3. fine-tune segmentation and staging from each (and from scratch, the baseline) on 20% of
//      the training split (`paper` also 40% and 100% for baseline and FratMAE), from scratch on
//      coronal and on axial stacks with the whole training split (Table 2), and (`cpu`,
//      `paper`, `smoke`) two frozen-encoder controls: a staging probe of FratMAE's encoders against
//      random ones, and the 20% segmentation baseline with its encoders frozen at random (does
//      segmentation use its encoders at all?); every
//      setting once per fine-tuning seed, all on one split: test cases (never used to choose
//      anything), validation cases (the learning curves), training cases
//   4. score the test split: Dice, IoU, false positives, detection by lesion size
//      (segmentation), macro sensitivity, accuracy (staging); the reference floors (SUV
//      thresholds, the majority class) on the same cases; per setting the seed mean with a 95%
//      bootstrap interval over cases and the spread over seeds; paired bootstrap differences
//      for the paper's comparisons (train/experiment_report.h)
//   5. OUT/report.md and OUT/report.json, OUT/pictures/
//
// Presets: `demo` (tiny model, small phantoms: a quarter of an hour on two CPU cores), `cpu`
// (the comparison sized so that its effects can show on two CPU cores: a large pre-training
// cohort, 3 seeds, 40+ test cases per task; about 90 minutes), `paper` (the paper's model,
// schedule and batch sizes on full-size phantoms: a GPU job) and `smoke` (every stage for a
// step or two on a handful of cases: a one-minute installation check). Every stage is kept in
// OUT; running the command again skips what is finished and resumes what is not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::train {

/// In OUT/pictures: the example test case of segmentation_examples.png as volumes, for a viewer.
/// Canonical (H, W, D) tensors "ct_hu" and "suv" (float32) and "mask_0".. (uint8: the truth, the
/// 41% SUVmax floor, then each model's prediction); metadata "case" (its id), "geometry" (the
/// source grid, core/volume.h's JSON: from_canonical maps the tensors back onto it) and "masks"
/// (a JSON list naming mask_0, mask_1, ...).
constexpr const char* kExampleCaseFile = "example_case.safetensors";

struct ExperimentConfig {
  std::string preset = "demo";  // demo | cpu | paper | smoke
  std::string out;
  std::string device = "cpu";
  bool bf16 = true;
  int workers = 2;
  uint64_t seed = 0;
  int64_t seeds = 0;  // fine-tuning seeds per setting; 0 = the preset's
  void validate() const;
};

/// Runs (or continues) the experiment and writes the report; returns report.json's content.
nlohmann::json run_experiment(const ExperimentConfig& cfg);

}  // namespace fratmae::train
