// Pieces shared by the training engines (pre-training, fine-tuning): optimizer parameter groups,
// the learning rate, the metrics log of a run, and its loss plot.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
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

/// decay_groups() with the encoders' parameters (names starting "pet_encoder." or
/// "ct_encoder.") in groups of their own, and each group's learning-rate factor: `encoder_scale`
/// for those, 1 for the rest (fine-tuning the encoders slower than a new head).
std::pair<std::vector<torch::optim::OptimizerParamGroup>, std::vector<double>> encoder_scaled_groups(
    torch::nn::Module& m, double weight_decay, double encoder_scale);

/// Set group i's learning rate to lr * scales[i].
void set_lr(torch::optim::Optimizer& opt, double lr, const std::vector<double>& scales);

/// The lines of RUN/metrics.jsonl with step <= before_step (a torn last line is dropped).
std::vector<nlohmann::json> read_metrics(const std::filesystem::path& file, int64_t before_step);

/// The mean "loss" of the first and of the last tenth of a run's metrics lines (at least one
/// line each; {0, 0} without lines): what the end-of-run summary compares, less noisy than two
/// single lines.
std::pair<double, double> loss_ends(const std::vector<nlohmann::json>& metrics);

/// An SVG of metrics against "step": one line per (key, label) present in the metrics.
void write_metrics_plot(const std::filesystem::path& svg, const std::string& title,
                        const std::vector<nlohmann::json>& metrics,
                        const std::vector<std::pair<std::string, std::string>>& keys);

/// Clips the gradients of `params` to a global L2 norm of at most `max_norm` (as
/// torch::nn::utils::clip_grad_norm_) without reading anything back to the host: the norm and the
/// scale min(1, max_norm / (norm + 1e-6)) stay 0-d tensors on the gradients' device, and every
/// gradient is multiplied by the scale (by exactly 1 when no clipping is needed). Returns the
/// norm before clipping (0-d float; 0 without gradients).
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

/// Sums of the values a training step logs (losses, gradient norm), kept as 0-d float tensors on
/// their device so that adding costs no host synchronisation; take() reads them all back in one
/// copy (one synchronisation), when a metrics line is written, and starts new sums.
class StepMeter {
 public:
  void add(const std::string& key, const at::Tensor& value);  // value: 0-d, detached or not
  std::map<std::string, double> take();                       // sums since the last take()

 private:
  std::map<std::string, at::Tensor> sums_;
};

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
