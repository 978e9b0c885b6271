// Everything `fratmae pretrain` needs, one validated value, saved as RUN/config.json.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace fratmae::train {

struct PretrainConfig {
  std::string cache;              // preprocessed cache (fratmae preprocess)
  std::string out;                // run directory
  std::string preset = "tiny";    // model preset: paper | small | tiny
  std::string method = "fratmae"; // fratmae | fratmae-noalign | mae | mae-align
  std::string stack = "coronal";  // coronal | axial (paper Table 2)
  int64_t stride = 2;             // k: slices subsampled every k (paper: 2)
  int64_t epochs = 30;            // used when steps == 0 (paper: 30)
  int64_t steps = 0;              // optimizer steps; 0 = epochs x batches per epoch
  bool run_length_given = true;   // false: a resume keeps the run's own steps/epochs (not in to_json)
  int64_t stop_after = 0;         // checkpoint and stop after this many steps in this invocation
                                  // (time-limited job slots); 0 = run to the end
  int64_t batch = 4;              // samples per optimizer step (paper: 24 over 8 GPUs)
  int64_t accum = 1;              // micro-batches per step (batch / accum each)
  double lr = 1e-4;               // paper: 1e-4
  double min_lr = 0.0;
  double warmup_fraction = 0.05;  // of the steps, linear warm-up
  double weight_decay = 0.05;
  double clip_grad = 1.0;         // max global gradient norm; 0 = off
  uint64_t seed = 0;
  int64_t log_every = 1;
  int64_t checkpoint_every = 100;
  std::string device = "cpu";     // cpu | cuda | cuda:N
  bool bf16 = true;               // autocast to bf16 on CUDA (ignored on CPU)
  int workers = 2;                // data-loading threads
  bool resident = false;          // hold the cache's whole-body arrays on the device and cut the
                                  // batches there (no loader threads, no copies per step; CUDA:
                                  // ~20 MB of device memory per case at 160 x 160 x 192)
  bool augment = true;
  std::string clip_weights;       // optional pretrained CLIP text weights (safetensors)

  void validate() const;
  nlohmann::json to_json() const;
  static PretrainConfig from_json(const nlohmann::json& j);  // strict: unknown keys are errors
};

}  // namespace fratmae::train
