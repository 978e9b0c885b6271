// The fine-tuning engine behind `fratmae finetune` (paper §2.4, downstream tasks), built on the
// pre-training engine's run layout:
//
//   RUN/config.json      resolved configuration: training, task, model (encoders and input
//                        shape), head, crops, cache settings (normalisation, whole-body size,
//                        native spacing), the split (train and test case ids), the init
//   RUN/metrics.jsonl    step, epoch, loss (and dice, ce for seg), lr, grad_norm, samples_per_s
//   RUN/checkpoints/     train/checkpoint.h; resume with --resume
//   RUN/loss.svg         loss curves
//   RUN/test/            metrics.json and cases.csv on the held-out test split (with 95%
//                        bootstrap intervals), when there is one
//
// Cases are split by id (data/splits.h: test first, then a nested training fraction);
// segmentation trains on lesion-aware native-resolution crops of the model's input shape,
// staging on the central whole-body stack. Every random choice is a function of the seed.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "infer/sliding_window.h"
#include "model/unetr.h"
#include "train/finetune_config.h"

namespace fratmae::train {

/// A fine-tuned model, ready to run.
struct DownstreamModel {
  std::string task;             // seg | stage
  model::SegmentationNet seg{nullptr};
  model::StagingNet stage{nullptr};
  nlohmann::json run_config;    // RUN/config.json
  nlohmann::json source;        // the checkpoint loaded (train/checkpoint.h checkpoint_record)
  std::string modalities = "petct";  // the inputs the network reads: petct | pet | ct
  torch::nn::Module& module() { return seg ? static_cast<torch::nn::Module&>(*seg) : *stage; }
  const model::ModelConfig& model_config() const { return seg ? seg->cfg : stage->cfg; }
};

/// An untrained network for `task`.
DownstreamModel make_downstream(const std::string& task, const model::ModelConfig& mc, int64_t feature_size,
                                int64_t hidden, const std::string& pool = "mean", const std::string& modalities = "petct",
                                bool input_skip = true, bool deep_supervision = false,
                                bool conv_encoder = false);

/// The newest checkpoint of a fine-tuning run on `device`, in eval mode. Throws FileError.
DownstreamModel load_finetuned(const std::filesystem::path& run, const std::string& device = "cpu");

/// The sliding windows of a segmentation run's own test evaluation (its window, overlap,
/// body-only setting and its cache's body level), as `fratmae predict` uses them by default.
infer::SlidingWindowConfig evaluation_windows(const DownstreamModel& seg);

struct FinetuneResult {
  int64_t start_step = 0, steps_done = 0, total_steps = 0;
  bool interrupted = false;
  double first_loss = 0, last_loss = 0;  // mean loss of the first / last tenth of the run (run_util loss_ends)
  nlohmann::json test;  // RUN/test/metrics.json's summary (empty without a test split)
};

/// Run (or with resume, continue) fine-tuning; stops early, with a checkpoint, when
/// stop_request() (train/pretrainer.h) is set. Throws fratmae::Error on bad settings.
FinetuneResult finetune(const FinetuneConfig& cfg, bool resume);

}  // namespace fratmae::train
