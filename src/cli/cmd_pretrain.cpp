#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "cli/training_options.h"
#include "core/error.h"
#include "train/pretrainer.h"

namespace fratmae::cli {

void add_pretrain(CLI::App& app) {
  struct Args {
    train::PretrainConfig cfg;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  train::PretrainConfig& c = a->cfg;
  CLI::App* sub = app.add_subcommand(
      "pretrain", "Pre-train FratMAE (or a variant) on a preprocessed cache; writes RUN/config.json, metrics.jsonl, "
                  "checkpoints/, loss.svg. Ctrl-C or SIGTERM checkpoints and stops; --resume continues exactly");
  sub->add_option("--cache", c.cache, "preprocessed cache (fratmae preprocess)")->required();
  sub->add_option("-o,--out", c.out, "run folder")->required();
  sub->add_flag("--resume", a->resume, "continue the run in --out from its newest checkpoint");
  sub->add_option("--preset", c.preset, "model size: paper (ViT-B), small, tiny; encoder values after a colon: tiny:patch=4,depth=4,dim=128,heads=4")->capture_default_str();
  sub->add_option("--method", c.method, "fratmae, fratmae-noalign, mae, mae-align (paper Table 3)")->capture_default_str();
  sub->add_option("--stack", c.stack, "coronal (whole-body) or axial stacks (paper Table 2)")->capture_default_str();
  sub->add_option("--stride", c.stride, "k: keep every k-th slice of a k x stack range")->capture_default_str();
  sub->add_option("--epochs", c.epochs, "epochs (when --steps is 0)")->capture_default_str();
  sub->add_option("--steps", c.steps, "optimizer steps (0: from --epochs)")->capture_default_str();
  sub->add_option("--stop-after", c.stop_after, "checkpoint and stop after N steps of this invocation (job time limits)")
      ->capture_default_str();
  sub->add_option("--batch", c.batch, "samples per optimizer step")->capture_default_str();
  sub->add_option("--accum", c.accum, "micro-batches per step (gradient accumulation)")->capture_default_str();
  add_training_options(sub, c, "peak learning rate (AdamW)");
  sub->add_flag("--resident", c.resident,
                "hold the cache on the device and cut batches there (CUDA: ~20 MB of GPU memory per case); same batches");
  sub->add_option("--clip-weights", c.clip_weights, "pretrained CLIP text weights (.safetensors, open_clip or HF names)");
  sub->callback([a, sub] {
    a->cfg.run_length_given = sub->count("--steps") + sub->count("--epochs") > 0;
    install_stop_signals();
    const train::PretrainResult r = train::pretrain(a->cfg, a->resume);
    spdlog::info("pretrain: steps {}..{} of {}, mean loss {:.4f} over the first tenth -> {:.4f} over the last; run in {}", r.start_step, r.steps_done,
                 r.total_steps, r.first_loss, r.last_loss, a->cfg.out);
    if (r.interrupted) std::exit(128 + train::stop_request().load());
  });
}

void add_export(CLI::App& app) {
  struct Args {
    std::string run, out;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "export", "Write a run's PET and CT encoders (and text encoder) as one safetensors file for fine-tuning "
                "and for PyTorch users");
  sub->add_option("--run", a->run, "pre-training run folder")->required();
  sub->add_option("-o,--out", a->out, "output .safetensors file")->required();
  sub->callback([a] {
    train::export_encoders(a->run, a->out);
    spdlog::info("wrote {}", a->out);
  });
}

}  // namespace fratmae::cli
