// Checkpoints of a run: RUN/checkpoints/step_NNNNNNN/{model.safetensors, optimizer.pt,
// state.json} and RUN/checkpoints/latest (the name of the newest complete one).
//
// A checkpoint is written into a hidden temporary folder and renamed into place, then
// `latest` is replaced atomically: a crash leaves the previous checkpoint intact. state.json
// records the step, the model configuration and the size and CRC-32 of every file, so a
// truncated, corrupt or mismatched checkpoint is refused with a message saying which.
// Weights are safetensors (PyTorch users load them directly); the optimizer state uses
// LibTorch's serializer (exact, internal to resuming).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

namespace fratmae::train {

struct CheckpointState {
  int64_t step = 0;         // optimizer steps done
  nlohmann::json model;     // ModelConfig::to_json()
  nlohmann::json extra;     // trainer's own state (metrics so far, ...)
};

/// Write a checkpoint of `module` and `opt` under run/checkpoints; returns its folder.
std::filesystem::path save_checkpoint(const std::filesystem::path& run, torch::nn::Module& module,
                                      torch::optim::Optimizer& opt, const CheckpointState& state);

/// The newest complete checkpoint of a run, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run);

/// Verify files (sizes, CRC-32) and the model configuration, then load weights and optimizer
/// state. Throws fratmae::FileError naming the file and the problem.
CheckpointState load_checkpoint(const std::filesystem::path& dir, torch::nn::Module& module,
                                torch::optim::Optimizer& opt, const nlohmann::json& expected_model);

/// What a checkpoint is, for the provenance of outputs made with it: {"run": the run folder
/// (absolute), "checkpoint": its folder name, "step", "weights_sha256": of model.safetensors}.
nlohmann::json checkpoint_record(const std::filesystem::path& checkpoint_dir);

/// The weights only (no verification of the optimizer), e.g. for export and fine-tuning.
std::map<std::string, at::Tensor> load_checkpoint_weights(const std::filesystem::path& dir);

/// CRC-32 of a file's bytes (zlib).
uint32_t file_crc32(const std::filesystem::path& file);

}  // namespace fratmae::train
