// Pieces shared by the training engines (pre-training, fine-tuning): optimizer parameter groups,
// the learning rate, the metrics log of a run, and its loss plot.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/loader.h"

namespace fratmae::train {

/// AdamW groups: weight decay on weight matrices only (not on biases, norms, tokens, position
/// embeddings or the temperature); parameters that do not require grad are left out.
std::vector<torch::optim::OptimizerParamGroup> decay_groups(torch::nn::Module& m, double weight_decay);

/// Set the learning rate of every group of an AdamW optimizer.
void set_lr(torch::optim::Optimizer& opt, double lr);

/// The lines of RUN/metrics.jsonl with step <= before_step (a torn last line is dropped).
std::vector<nlohmann::json> read_metrics(const std::filesystem::path& file, int64_t before_step);

/// An SVG of metrics against "step": one line per (key, label) present in the metrics.
void write_metrics_plot(const std::filesystem::path& svg, const std::string& title,
                        const std::vector<nlohmann::json>& metrics,
                        const std::vector<std::pair<std::string, std::string>>& keys);

/// Batches of a run in step order across epochs: batch `i` (0-based, over the whole run) is
/// batch i % batches_per_epoch of epoch i / batches_per_epoch. Consecutive calls stream from
/// the loader's prefetching workers; a jump (resuming mid-epoch) builds the batch directly.
class SequentialBatches {
 public:
  explicit SequentialBatches(data::BatchLoader& loader) : loader_(loader), bpe_(loader.batches_per_epoch()) {}
  data::Batch get(int64_t i);

 private:
  data::BatchLoader& loader_;
  int64_t bpe_, epoch_ = -1, next_ = 0;
};

}  // namespace fratmae::train
