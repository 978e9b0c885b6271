// The pre-training engine behind `fratmae pretrain`.
//
//   RUN/config.json        the resolved configuration (training, model, crops, cache)
//   RUN/metrics.jsonl      one JSON object per logged step: step, epoch, loss, mse, infonce,
//                          lr, temperature, grad_norm, samples_per_s, elapsed_s
//   RUN/checkpoints/...    see train/checkpoint.h; every --checkpoint-every steps and at the end
//   RUN/loss.svg           loss curves, refreshed at each checkpoint
//
// Every random choice is a pure function of (seed, step): batch b of epoch e comes from the
// loader's batch_at(e, b), and the masks of micro-batch m from a generator seeded with
// (seed, m). So a run stopped at step n and resumed reaches bit-for-bit the state of an
// uninterrupted run (on the same device and thread count).
#pragma once

#include <atomic>
#include <cstdint>

#include "train/pretrain_config.h"

namespace fratmae::train {

/// Set to a signal number (SIGINT, SIGTERM) to ask a running pre-training to checkpoint and
/// stop after its current step. Async-signal-safe.
std::atomic<int>& stop_request();

struct PretrainResult {
  int64_t start_step = 0, steps_done = 0, total_steps = 0;
  bool interrupted = false;
  double first_loss = 0, last_loss = 0;  // mean loss of the first / last tenth of the run (run_util loss_ends)
};

/// Run (or, with resume, continue) pre-training. Throws fratmae::Error on bad settings.
PretrainResult pretrain(const PretrainConfig& cfg, bool resume);

/// The encoders (and text encoder) of a run's newest checkpoint as one safetensors file:
/// names pet_encoder.*, ct_encoder.*, text_encoder.*, align.*; metadata holds the model
/// configuration as JSON.
void export_encoders(const std::filesystem::path& run, const std::filesystem::path& out);

}  // namespace fratmae::train
