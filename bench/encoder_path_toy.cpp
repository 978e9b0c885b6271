// encoder_path_toy: can the UNETR's encoders' path alone (no full-resolution convolutions on the
// raw input: SegmentationNet with input_skip = false) learn to segment hot cubes, and how does
// that depend on the cubes' size? A diagnostic for docs/experiments.md, not a speed benchmark.
//
// Each sample: a 16 x 32 x 48 window (the `tiny` preset's, patch 8), PET 0.25 + N(0, 0.03)
// (normalised background), CT N(0, 0.05); with probability --lesion-share one cube of side
// --min..--max voxels at PET 0.6, labelled 1. Adam, batch 4, Dice + CE (train/seg_loss.h).
// Prints the Dice loss every 25 steps and its mean over the last 100.
//
//   build/bench/encoder_path_toy --min 2 --max 4 --lesion-share 0.33      (small rare cubes)
//   build/bench/encoder_path_toy --min 6 --max 8 --lesion-share 0.33      (large rare cubes)
//   build/bench/encoder_path_toy --min 2 --max 6 --lesion-share 1 --cubes 2   (common cubes)
//   ... --skip (with the input skip, for comparison)
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <random>

#include "model/config.h"
#include "model/unetr.h"
#include "train/seg_loss.h"

using namespace fratmae;

int main(int argc, char** argv) {
  CLI::App app{"encoder_path_toy: the UNETR's encoders' path on hot cubes"};
  int64_t min_side = 2, max_side = 4, cubes = 1, steps = 300;
  double share = 0.33, lr = 5e-3;
  uint64_t seed = 0;
  bool skip = false;
  app.add_option("--min", min_side, "smallest cube side (voxels)")->capture_default_str();
  app.add_option("--max", max_side, "largest cube side (voxels)")->capture_default_str();
  app.add_option("--cubes", cubes, "cubes in a sample that has any")->capture_default_str();
  app.add_option("--lesion-share", share, "share of samples with cubes")->capture_default_str();
  app.add_option("--steps", steps, "Adam steps of batch 4")->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->capture_default_str();
  app.add_option("--seed", seed, "seed")->capture_default_str();
  app.add_flag("--skip", skip, "keep the input skip (the full UNETR)");
  CLI11_PARSE(app, argc, argv);

  torch::manual_seed(seed);
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  model::ModelConfig cfg = model::ModelConfig::preset_config("tiny");
  cfg.input = {16, 32, 48};
  model::SegmentationNet net(cfg, 8, 2, "petct", skip);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(lr));
  double tail = 0;
  for (int64_t step = 0; step < steps; ++step) {
    auto pet = 0.25 + 0.03 * torch::randn({4, 1, 16, 32, 48});  // (B, 1, H, W, D)
    auto ct = 0.05 * torch::randn({4, 1, 16, 32, 48});
    auto seg = torch::zeros({4, 1, 16, 32, 48}, torch::kLong);
    for (int64_t b = 0; b < 4; ++b) {
      if (std::uniform_real_distribution<double>(0, 1)(rng) >= share) continue;
      for (int64_t k = 0; k < cubes; ++k) {
        const int64_t s = uniform(min_side, max_side);
        const int64_t h = uniform(0, 16 - s), w = uniform(0, 32 - s), d = uniform(0, 48 - s);
        pet[b][0].narrow(0, h, s).narrow(1, w, s).narrow(2, d, s).fill_(0.6);
        seg[b][0].narrow(0, h, s).narrow(1, w, s).narrow(2, d, s).fill_(1);
      }
    }
    const auto l = train::dice_ce_loss(net->forward(ct, pet), seg);
    opt.zero_grad();
    l.loss.backward();
    opt.step();
    const double dice = l.dice.item<double>();
    if (step >= steps - 100) tail += dice / 100.0;
    if (step % 25 == 0) std::printf("step %lld Dice loss %.3f CE %.4f\n", static_cast<long long>(step), dice, l.ce.item<double>());
  }
  std::printf("mean Dice loss over the last 100 steps: %.3f (1.0: nothing found; batches without cubes count 1.0)\n", tail);
  return 0;
}
