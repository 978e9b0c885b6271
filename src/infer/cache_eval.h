// Running fine-tuned models on cached cases and scoring them: what `finetune` does on its test
// split and what `experiment` reports.
//
//   segmentation: each case's native-resolution volume, sliding windows (infer/sliding_window.h),
//                 the mask scored against the case's truth (eval/seg_metrics.h);
//   staging:      each case's central whole-body stack, the probability of "advanced".
// Summaries are means with 95% bootstrap intervals over cases (eval/bootstrap.h).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/cache.h"
#include "data/loader.h"
#include "eval/bootstrap.h"
#include "eval/detection.h"
#include "eval/seg_metrics.h"
#include "infer/sliding_window.h"
#include "model/unetr.h"

namespace fratmae::infer {

/// The segmentation of one normalised canonical volume pair (H, W, D) with `net` on `device`
/// (bf16 autocast on CUDA when bf16).
SlidingWindowResult segment_volume(model::SegmentationNet& net, const at::Tensor& ct, const at::Tensor& pet,
                                   SlidingWindowConfig sw, const torch::Device& device, bool bf16,
                                   Progress* progress = nullptr);

struct SegEvaluation {
  std::vector<std::string> ids;
  std::vector<eval::SegMetrics> cases;
  std::vector<at::Tensor> masks;  // (h, w, d) uint8 predictions, when kept
  std::vector<eval::LesionDetection> lesions;  // every truth lesion of every case
  nlohmann::json summary;         // metric -> Interval::to_json()
  nlohmann::json detection;       // eval::detection_by_size(lesions)
};

/// Summary of per-case segmentation metrics: every metric's mean with its bootstrap interval.
nlohmann::json summarize_segmentation(const std::vector<eval::SegMetrics>& cases, const eval::BootstrapOptions& bo);

SegEvaluation evaluate_segmentation(model::SegmentationNet& net, const data::Cache& cache,
                                    const std::vector<int64_t>& cases, const SlidingWindowConfig& sw,
                                    const torch::Device& device, bool bf16, const eval::BootstrapOptions& bo,
                                    bool keep_masks = false, bool show_progress = true);

struct StageEvaluation {
  std::vector<std::string> ids;
  std::vector<int64_t> truth, pred;
  std::vector<double> p_advanced;
  nlohmann::json summary;  // accuracy, macro_sensitivity -> Interval::to_json()
};

/// Staging on the central stacks of `cases` (loader: data::LoaderConfig::staging(false) with the
/// run's crop).
StageEvaluation evaluate_staging(model::StagingNet& net, std::shared_ptr<const data::Cache> cache,
                                 const std::vector<int64_t>& cases, const data::LoaderConfig& loader,
                                 const torch::Device& device, bool bf16, const eval::BootstrapOptions& bo);

/// e.summary from e.pred and e.truth: accuracy and macro sensitivity with bootstrap intervals.
void summarize_staging(StageEvaluation& e, const eval::BootstrapOptions& bo);

/// A split scored over processes (train/finetuner: the test split), each scoring every N-th
/// case: a process' share as text, and the whole evaluation from every share, its cases in the
/// order of `ids` (the split's), summary and detection table over all of them, what one process
/// scoring every case computes (predicted masks are not carried).
std::string share_text(const SegEvaluation& e);
std::string share_text(const StageEvaluation& e);
SegEvaluation seg_evaluation_from_shares(const std::vector<std::string>& shares, const std::vector<std::string>& ids,
                                         const eval::BootstrapOptions& bo);
StageEvaluation stage_evaluation_from_shares(const std::vector<std::string>& shares, const std::vector<std::string>& ids,
                                             const eval::BootstrapOptions& bo);

/// metrics.json (summary + per case) and cases.csv of an evaluation.
nlohmann::json evaluation_json(const SegEvaluation& e);
std::string evaluation_csv(const SegEvaluation& e);
nlohmann::json evaluation_json(const StageEvaluation& e);
std::string evaluation_csv(const StageEvaluation& e);

/// DIR/metrics.json and DIR/cases.csv, each written atomically.
/// DIR/metrics.json (with provenance and, when given, the model scored: train/checkpoint.h
/// checkpoint_record) and DIR/cases.csv.
void write_evaluation(const std::filesystem::path& dir, const SegEvaluation& e, const nlohmann::json& model = nullptr);
void write_evaluation(const std::filesystem::path& dir, const StageEvaluation& e, const nlohmann::json& model = nullptr);

}  // namespace fratmae::infer
