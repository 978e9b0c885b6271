// Sliding-window inference: window placement, Gaussian weights, equality with one direct pass,
// padding, rolling accumulation over many windows, flip TTA.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "infer/sliding_window.h"
#include "model/unetr.h"

using namespace fratmae;
using namespace fratmae::infer;

TEST(SlidingWindow, WindowStartsCoverTheAxis) {
  EXPECT_EQ(window_starts(10, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(window_starts(16, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(window_starts(32, 16, 0.5), (std::vector<int64_t>{0, 8, 16}));
  EXPECT_EQ(window_starts(33, 16, 0.5), (std::vector<int64_t>{0, 6, 11, 17}));  // steps <= 8, last ends at 33
  EXPECT_EQ(window_starts(32, 16, 0.0), (std::vector<int64_t>{0, 16}));
}

TEST(SlidingWindow, GaussianPeaksAtTheCentreAndStaysPositive) {
  const auto g = gaussian_importance({8, 8, 8}, 0.125);
  EXPECT_NEAR(g.max().item<double>(), 1.0, 1e-6);
  EXPECT_GT(g.min().item<double>(), 0.0);
  EXPECT_GT(g[4][4][4].item<float>(), g[0][4][4].item<float>());
}

TEST(SlidingWindow, OneWindowEqualsOneDirectForwardPass) {
  torch::manual_seed(0);
  model::SegmentationNet net(model::ModelConfig::preset_config("tiny"), 4);
  net->eval();
  const auto ct = torch::rand({16, 32, 48}) * 2 - 1, pet = torch::rand({16, 32, 48});
  SlidingWindowConfig cfg;
  cfg.window = {16, 32, 48};
  cfg.keep_probability = true;
  torch::NoGradGuard ng;
  const auto direct = net->foreground_probability(ct.view({1, 1, 16, 32, 48}), pet.view({1, 1, 16, 32, 48}))[0];
  const auto r = sliding_window(ct, pet, [&](const at::Tensor& c, const at::Tensor& p) {
    return net->foreground_probability(c, p);
  }, cfg);
  EXPECT_EQ(r.windows, 1);
  EXPECT_TRUE(torch::allclose(r.probability, direct, 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(r.mask, direct.gt(0.5).to(torch::kByte)));
}

// A predictor that is a pointwise function of the input gives the same value at a voxel from
// every window, so any correct weighted average reproduces it exactly: a check of the window
// bookkeeping, the rolling buffers along D and the padding.
TEST(SlidingWindow, PointwisePredictorIsReproducedEverywhere) {
  torch::manual_seed(1);
  auto pointwise = [](const at::Tensor& c, const at::Tensor& p) { return torch::sigmoid(4 * p.squeeze(1) + c.squeeze(1)); };
  // Batch 4 over the second shape's 5 windows leaves one window for the last pass.
  for (const auto& [shape, batch] : {std::pair{std::array<int64_t, 3>{20, 37, 61}, int64_t{3}},
                                     std::pair{std::array<int64_t, 3>{5, 9, 70}, int64_t{3}},
                                     std::pair{std::array<int64_t, 3>{5, 9, 70}, int64_t{4}}}) {
    const auto ct = torch::rand({shape[0], shape[1], shape[2]}) * 2 - 1;
    const auto pet = torch::rand({shape[0], shape[1], shape[2]}) - 0.5;
    SlidingWindowConfig cfg;
    cfg.window = {8, 16, 24};
    cfg.batch = batch;
    cfg.keep_probability = true;
    int64_t passes = 0;
    const auto r = sliding_window(ct, pet, [&](const at::Tensor& c, const at::Tensor& p) {
      ++passes;
      // Every pass but the last full, across slabs; none holds a single window.
      if (passes < (count_windows(shape, cfg) + cfg.batch - 1) / cfg.batch) EXPECT_EQ(c.size(0), cfg.batch);
      EXPECT_GE(c.size(0), 2);
      return pointwise(c, p);
    }, cfg);
    EXPECT_EQ(passes, (r.windows + cfg.batch - 1) / cfg.batch);
    const auto expected = torch::sigmoid(4 * pet + ct);
    EXPECT_EQ(r.probability.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(r.probability, expected, 1e-5, 1e-5));
    EXPECT_TRUE(torch::equal(r.mask, expected.gt(0.5).to(torch::kByte)));
    EXPECT_EQ(r.windows, count_windows(shape, cfg));
    // Mirrored TTA of a predictor that commutes with mirroring changes nothing.
    cfg.flip_tta = true;
    const auto t = sliding_window(ct, pet, pointwise, cfg);
    EXPECT_TRUE(torch::allclose(t.probability, expected, 1e-5, 1e-5));
    EXPECT_EQ(t.windows, 2 * r.windows);
  }
}

TEST(SlidingWindow, MaskOnlyModeKeepsNoProbabilityMap) {
  const auto x = torch::zeros({8, 8, 30});
  SlidingWindowConfig cfg;
  cfg.window = {8, 8, 8};
  const auto r = sliding_window(x, x, [](const at::Tensor& c, const at::Tensor&) { return torch::ones_like(c.squeeze(1)); }, cfg);
  EXPECT_FALSE(r.probability.defined());
  EXPECT_EQ(r.mask.sum().item<int64_t>(), 8 * 8 * 30);
  cfg.overlap = 1.0;
  EXPECT_THROW(sliding_window(x, x, [](const at::Tensor& c, const at::Tensor&) { return c.squeeze(1); }, cfg), Error);
}

// body_only: windows over the body's bounding box only, the same values there as without it,
// background (and probability 0) in the air around it, fewer windows.
TEST(SlidingWindow, BodyOnlyPredictsInsideTheBodyBoxAlone) {
  torch::manual_seed(2);
  at::Tensor ct = torch::full({20, 40, 60}, -1.0f);
  ct.slice(0, 4, 15).slice(1, 10, 31).slice(2, 5, 50).uniform_(-0.2, 0.3);  // the body
  const auto pet = torch::rand({20, 40, 60});
  auto pointwise = [](const at::Tensor& c, const at::Tensor& p) { return torch::sigmoid(4 * p.squeeze(1) + c.squeeze(1)); };
  SlidingWindowConfig cfg;
  cfg.window = {8, 16, 24};
  cfg.overlap = 0.25;
  cfg.keep_probability = true;
  const auto all = sliding_window(ct, pet, pointwise, cfg);
  cfg.body_only = true;
  const auto body = sliding_window(ct, pet, pointwise, cfg);
  EXPECT_EQ(body_box(ct, cfg.body_level), (std::array<std::array<int64_t, 2>, 3>{{{4, 15}, {10, 31}, {5, 50}}}));
  EXPECT_LT(body.windows, all.windows);
  EXPECT_EQ(body.windows, count_windows(ct, cfg));
  EXPECT_EQ(all.windows, count_windows(ct, SlidingWindowConfig{cfg.window, cfg.overlap}));
  const auto in = [](const at::Tensor& v) { return v.slice(0, 4, 15).slice(1, 10, 31).slice(2, 5, 50); };
  EXPECT_TRUE(torch::allclose(in(body.probability), in(all.probability), 1e-5, 1e-6));
  at::Tensor outside = body.probability.clone();
  in(outside).zero_();
  EXPECT_EQ(outside.count_nonzero().item<int64_t>(), 0);  // nothing outside the body's box
  EXPECT_EQ(body.mask.sum().item<int64_t>(), in(body.mask).sum().item<int64_t>());
  EXPECT_GT(all.mask.sum().item<int64_t>(), in(all.mask).sum().item<int64_t>());  // air voxels marked without it
  // No body at all: nothing predicted, no window run.
  const auto none = sliding_window(torch::full({20, 40, 60}, -1.0f), pet, pointwise, cfg);
  EXPECT_EQ(none.windows, 0);
  EXPECT_EQ(none.mask.sum().item<int64_t>(), 0);
}
