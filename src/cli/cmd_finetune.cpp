#include <spdlog/spdlog.h>

#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/training_options.h"
#include "core/error.h"
#include "model/config.h"
#include "train/finetuner.h"
#include "train/pretrainer.h"

namespace fratmae::cli {

void add_finetune(CLI::App& app) {
  struct Args {
    train::FinetuneConfig cfg;
    bool resume = false;
    std::vector<int64_t> input{0, 0, 0};
  };
  auto a = std::make_shared<Args>();
  train::FinetuneConfig& c = a->cfg;
  CLI::App* sub = app.add_subcommand(
      "finetune", "Fine-tune for lesion segmentation (UNETR-style decoder, Dice + CE) or Ann Arbor staging (MLP) "
                  "from a pre-training run or from scratch; evaluates on a held-out test split (RUN/test/)");
  sub->add_option("--task", c.task, "seg or stage")->required()->check(CLI::IsMember({"seg", "stage"}));
  sub->add_option("--cache", c.cache, "preprocessed cache (fratmae preprocess)")->required();
  sub->add_option("-o,--out", c.out, "run folder")->required();
  sub->add_option("--init", c.init, "pre-training run folder or `fratmae export` file (none: from scratch)");
  sub->add_flag("--resume", a->resume, "continue the run in --out from its newest checkpoint");
  sub->add_option("--preset", c.preset, "model size without --init: paper, small, tiny; encoder values after a colon: tiny:patch=4,depth=4,dim=128,heads=4")->capture_default_str();
  sub->add_option("--stack", c.stack, "coronal or axial inputs (paper Table 2)")->capture_default_str();
  sub->add_option("--stride", c.stride, "k of the staging stack")->capture_default_str();
  sub->add_option("--input", a->input,
                  "seg: crop (window) size H W D (0 0 0: the model's own, the pre-training stack or the preset's)")
      ->expected(3)
      ->capture_default_str();
  sub->add_option("--train-fraction", c.train_fraction, "fraction of the training split used (paper: 0.2, 0.4, 1)")
      ->capture_default_str();
  sub->add_option("--test-fraction", c.test_fraction, "held-out test split")->capture_default_str();
  sub->add_option("--val-fraction", c.val_fraction, "validation split (never trained on; learning curves)")
      ->capture_default_str();
  sub->add_option("--val-every", c.val_every, "steps between validation scores in metrics.jsonl (0: at the end, -1: none)")
      ->capture_default_str();
  sub->add_option("--split-seed", c.split_seed, "seed of the case split")->capture_default_str();
  sub->add_option("--epochs", c.epochs, "epochs (when --steps is 0)")->capture_default_str();
  sub->add_option("--steps", c.steps, "optimizer steps (0: from --epochs)")->capture_default_str();
  sub->add_option("--batch", c.batch, "samples per step")->capture_default_str();
  add_training_options(sub, c, "peak learning rate (0: 1e-4 for seg, 5e-5 for stage)");
  sub->add_flag("--freeze-encoders", c.freeze_encoders, "train only the task head");
  sub->add_option("--feature-size", c.feature_size, "UNETR decoder channels at full resolution")->capture_default_str();
  sub->add_option("--encoder-lr-scale", c.encoder_lr_scale,
                  "the encoders' learning rate as a multiple of --lr (the head's)")->capture_default_str();
  sub->add_option("--input-skip", c.input_skip,
                  "UNETR's full-resolution convolutions on the raw PET/CT (true/false; false: every voxel through the "
                  "encoders, a diagnostic)")
      ->capture_default_str();
  sub->add_option("--deep-supervision", c.deep_supervision,
                  "seg: also train logits heads on the decoder's coarse levels against the pooled truth (nnU-Net's deep "
                  "supervision; true/false)")
      ->capture_default_str();
  sub->add_option("--conv-encoder", c.conv_encoder,
                  "seg: a convolutional encoder on the raw PET/CT beside the ViTs, joined to every decoder level (a "
                  "U-Net's; not in the paper; true/false)")
      ->capture_default_str();
  sub->add_option("--hidden", c.hidden, "staging MLP width")->capture_default_str();
  sub->add_option("--pool", c.pool, "staging: encoder tokens pooled by mean, max or mean-max, the CLS token (cls), or the maximum within "
                  "each of 2 (left-right) x 4 (head-feet) regions of the body (regions); input: no encoder, the head reads the maximum "
                  "of the PET and CT within 2 x 8 regions (a baseline)")
      ->check(CLI::IsMember(fratmae::model::staging_pools()))
      ->capture_default_str();
  sub->add_option("--modalities", c.modalities,
                  "the encoders the head reads: petct (both), pet (PET only: studies without a CT), ct")
      ->check(CLI::IsMember({"petct", "pet", "ct"}))
      ->capture_default_str();
  sub->add_option("--lesion-prob", c.lesion_prob, "share of seg crops around a lesion voxel")->capture_default_str();
  sub->add_flag("--lesion-centred", c.lesion_centred,
                "put that lesion voxel at the crop's centre (nnU-Net's way) instead of anywhere in the crop");
  sub->add_option("--intensity-scale", c.intensity_scale,
                  "augmentation: CT and PET each multiplied by U(1 - s, 1 + s) per sample (with --augment)")
      ->capture_default_str();
  sub->add_option("--evaluate", c.evaluate, "evaluate on the test split at the end (true/false)")->capture_default_str();
  sub->add_option("--overlap", c.overlap, "sliding-window overlap for the evaluation")->capture_default_str();
  sub->add_option("--window-batch", c.window_batch, "windows per forward pass")->capture_default_str();
  sub->add_flag("--tta", c.tta, "flip test-time augmentation in the evaluation");
  sub->add_option("--body-only", c.body_only,
                  "sliding windows only over the body's bounding box, the air around it background (true/false); "
                  "`fratmae predict` does as the run did")
      ->capture_default_str();
  sub->add_option("--bootstrap", c.bootstrap, "bootstrap samples of the confidence intervals")->capture_default_str();
  sub->callback([a, sub] {
    a->cfg.run_length_given = sub->count("--steps") + sub->count("--epochs") > 0;
    for (int i = 0; i < 3; ++i) a->cfg.input[static_cast<size_t>(i)] = a->input[static_cast<size_t>(i)];
    install_stop_signals();
    const train::FinetuneResult r = train::finetune(a->cfg, a->resume);
    spdlog::info("finetune: steps {}..{} of {}, mean loss {:.4f} over the first tenth -> {:.4f} over the last; run in {}", r.start_step, r.steps_done,
                 r.total_steps, r.first_loss, r.last_loss, a->cfg.out);
    if (r.interrupted) std::exit(128 + train::stop_request().load());
  });
}

}  // namespace fratmae::cli
