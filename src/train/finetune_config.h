// Everything `fratmae finetune` needs, one validated value, saved in RUN/config.json.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::train {

struct FinetuneConfig {
  std::string task = "seg";       // seg (lesion segmentation) | stage (Ann Arbor early/advanced)
  std::string cache;              // preprocessed cache (fratmae preprocess), with native copies for seg
  std::string out;                // run directory
  std::string init;               // pre-training run folder or `fratmae export` file; empty = from scratch
  std::string preset = "tiny";    // model size without --init (with --init: the pre-trained model's)
  std::string stack = "coronal";  // coronal | axial (paper Table 2)
  std::array<int64_t, 3> input{0, 0, 0};  // seg: the crop (window) H, W, D of a coronal-stack model (axial:
                                          // W, W, H); 0 0 0: the model's own input (the pre-training
                                          // stack, or the preset's). Set it to compare inits fairly.
  int64_t stride = 2;             // k of the staging stack (as in pre-training)
  double train_fraction = 1.0;    // of the training split (paper: 0.2, 0.4, 1.0), nested
  double test_fraction = 0.2;     // held-out test split (by case, seeded)
  double val_fraction = 0.1;      // validation split (by case, never trained on): learning curves
  int64_t val_every = 0;          // steps between validation scores in metrics.jsonl (0: at the end only, -1: never)
  uint64_t split_seed = 0;
  int64_t epochs = 200;           // used when steps == 0 (paper: 200 seg, 500 staging)
  int64_t steps = 0;
  bool run_length_given = true;   // false: a resume keeps the run's own steps/epochs (not in to_json)
  int64_t batch = 2;
  double lr = 0;                  // 0 = the task's default (paper: 1e-4 seg, 5e-5 staging)
  double encoder_lr_scale = 1.0;  // the encoders' learning rate = lr x this (the head's: lr)
  double min_lr = 0;
  double warmup_fraction = 0.05;
  double weight_decay = 0.05;
  double clip_grad = 1.0;
  bool freeze_encoders = false;   // train only the task head
  int64_t feature_size = 16;      // UNETR decoder width at full resolution
  bool input_skip = true;         // UNETR's full-resolution convolutions on the raw PET/CT (false: a diagnostic)
  bool deep_supervision = false;  // seg: aux heads at the coarse decoder levels (model/unetr.h, train/seg_loss.h)
  bool conv_encoder = false;      // seg: a convolutional encoder on the raw PET/CT beside the ViTs (model/unetr.h)
  int64_t hidden = 256;           // staging MLP width
  std::string pool = "mean";      // staging: tokens pooled by mean | max | mean-max | cls | regions (model/unetr.h)
  std::string modalities = "petct";  // the encoders the head reads: petct | pet | ct (model/unetr.h)
  double lesion_prob = 0.5;       // seg crops around a lesion voxel
  bool lesion_centred = false;    // that voxel at the crop's centre instead of anywhere in it
  uint64_t seed = 0;
  int64_t log_every = 10;
  int64_t checkpoint_every = 500;
  std::string device = "cpu";
  bool bf16 = true;
  int workers = 2;
  bool augment = true;
  double intensity_scale = 0.1;   // augmentation: CT and PET x U(1 - s, 1 + s), drawn separately
  bool evaluate = true;           // evaluate on the test split at the end (RUN/test/)
  double overlap = 0.5;           // sliding-window evaluation
  bool body_only = true;          // sliding windows only over the body (the air around it is background)
  int64_t window_batch = 4;
  bool tta = false;
  int64_t bootstrap = 1000;       // bootstrap samples of the test CIs

  double task_lr() const { return lr > 0 ? lr : task == "seg" ? 1e-4 : 5e-5; }
  void validate() const;  // throws fratmae::Error naming the flag to fix
  nlohmann::json to_json() const;
};

}  // namespace fratmae::train
