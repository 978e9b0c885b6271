// Options and signal handling shared by the training subcommands (pretrain, finetune,
// experiment): the optimizer, schedule, logging and device flags have the same names and
// meanings everywhere.
#pragma once

#include <CLI/CLI.hpp>

namespace fratmae::cli {

/// Ctrl-C and SIGTERM ask a running training to checkpoint and stop (train::stop_request()).
void install_stop_signals();

/// --lr ... --augment on `sub` for a config with those members (PretrainConfig, FinetuneConfig).
template <class Config>
void add_training_options(CLI::App* sub, Config& c, const std::string& lr_help) {
  sub->add_option("--lr", c.lr, lr_help)->capture_default_str();
  sub->add_option("--min-lr", c.min_lr, "final learning rate of the cosine schedule")->capture_default_str();
  sub->add_option("--warmup", c.warmup_fraction, "fraction of steps of linear warm-up")->capture_default_str();
  sub->add_option("--weight-decay", c.weight_decay, "AdamW weight decay on weight matrices")->capture_default_str();
  sub->add_option("--clip-grad", c.clip_grad, "max gradient norm (0: off)")->capture_default_str();
  sub->add_option("--seed", c.seed, "seed of every random choice")->capture_default_str();
  sub->add_option("--log-every", c.log_every, "steps between metrics lines")->capture_default_str();
  sub->add_option("--checkpoint-every", c.checkpoint_every, "steps between checkpoints")->capture_default_str();
  sub->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--bf16", c.bf16, "bf16 autocast on CUDA (true/false)")->capture_default_str();
  sub->add_option("--workers", c.workers, "data-loading threads")->capture_default_str();
  sub->add_option("--augment", c.augment, "flips and intensity jitter (true/false)")->capture_default_str();
}

}  // namespace fratmae::cli
