// Tests of src/train/run_util: gradient clipping on the device and the step meter.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/run_util.h"

using namespace fratmae;

namespace {
// Parameters with gradients drawn from a seed, and an identical copy.
std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> twin_params(uint64_t seed, double grad_scale) {
  torch::manual_seed(seed);
  std::vector<at::Tensor> a, b;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{7, 5}, {5}, {3, 2, 4}}) {
    auto p = torch::randn(shape).requires_grad_(true);
    p.mutable_grad() = torch::randn(shape) * grad_scale;
    auto q = p.detach().clone().requires_grad_(true);
    q.mutable_grad() = p.grad().clone();
    a.push_back(p), b.push_back(q);
  }
  // A parameter without a gradient is skipped by both.
  a.push_back(torch::randn({3}).requires_grad_(true));
  b.push_back(a.back().detach().clone().requires_grad_(true));
  return {a, b};
}
}  // namespace

TEST(ClipGradNorm, MatchesLibTorchWhenClippingAndWhenNot) {
  for (const double scale : {10.0, 0.01}) {  // norm far above / below max_norm 1
    auto [mine, theirs] = twin_params(3, scale);
    const at::Tensor norm = train::clip_grad_norm(mine, 1.0);
    const double expected = torch::nn::utils::clip_grad_norm_(theirs, 1.0);
    EXPECT_EQ(norm.dim(), 0);
    EXPECT_NEAR(norm.item<double>(), expected, 1e-5 * expected);
    for (size_t i = 0; i + 1 < mine.size(); ++i)
      EXPECT_TRUE(torch::allclose(mine[i].grad(), theirs[i].grad(), 1e-6, 1e-7)) << "scale " << scale << " tensor " << i;
    EXPECT_FALSE(mine.back().grad().defined());
  }
  // Below the limit the gradients are multiplied by exactly 1.
  auto [mine, theirs] = twin_params(4, 0.01);
  train::clip_grad_norm(mine, 1.0);
  for (size_t i = 0; i + 1 < mine.size(); ++i) EXPECT_TRUE(torch::equal(mine[i].grad(), theirs[i].grad()));
  // After clipping the global norm is max_norm.
  auto [big, unused] = twin_params(5, 100.0);
  train::clip_grad_norm(big, 2.0);
  std::vector<at::Tensor> norms;
  for (size_t i = 0; i + 1 < big.size(); ++i) norms.push_back(big[i].grad().norm());
  EXPECT_NEAR(torch::stack(norms).norm().item<double>(), 2.0, 1e-4);
  EXPECT_EQ(train::clip_grad_norm({torch::zeros({2})}, 1.0).item<double>(), 0.0);  // no gradients
}

TEST(StepMeter, SumsPerKeyAndStartsAgainAfterTake) {
  train::StepMeter m;
  EXPECT_TRUE(m.take().empty());
  m.add("loss", torch::tensor(1.5));
  m.add("loss", torch::tensor(2.25, torch::kDouble));
  auto g = torch::tensor(3.0, torch::requires_grad());
  m.add("norm", g * 2);  // not detached by the caller
  m.add("loss", torch::tensor({0.25}));  // one element, any shape
  auto s = m.take();
  EXPECT_DOUBLE_EQ(s["loss"], 4.0);
  EXPECT_DOUBLE_EQ(s["norm"], 6.0);
  m.add("loss", torch::tensor(1.0));
  s = m.take();
  EXPECT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s["loss"], 1.0);
  // The caller's tensor is not modified by later additions.
  auto v = torch::tensor(1.0);
  m.add("x", v);
  m.add("x", torch::tensor(1.0));
  EXPECT_DOUBLE_EQ(v.item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m.take()["x"], 2.0);
}

TEST(LossEnds, MeansOverTheFirstAndLastTenth) {
  std::vector<nlohmann::json> m;
  for (int i = 0; i < 20; ++i) m.push_back({{"step", i + 1}, {"loss", static_cast<double>(i)}});
  auto [a, b] = train::loss_ends(m);
  EXPECT_DOUBLE_EQ(a, 0.5);   // lines 0 and 1
  EXPECT_DOUBLE_EQ(b, 18.5);  // lines 18 and 19
  m.resize(3);                // fewer than ten lines: one each
  std::tie(a, b) = train::loss_ends(m);
  EXPECT_DOUBLE_EQ(a, 0.0);
  EXPECT_DOUBLE_EQ(b, 2.0);
  m.push_back({{"step", 4}, {"val_dice", 0.5}});  // a line without a loss is skipped
  std::tie(a, b) = train::loss_ends(m);
  EXPECT_DOUBLE_EQ(b, 2.0);
  EXPECT_EQ(train::loss_ends({}), std::make_pair(0.0, 0.0));
}

// The encoders get their own groups and learning-rate factor; weight decay stays on matrices only.
TEST(EncoderScaledGroups, EncodersLearnAtTheirOwnRate) {
  struct Net : torch::nn::Module {
    Net() {
      register_module("pet_encoder", torch::nn::Linear(3, 4));
      register_module("head", torch::nn::Linear(4, 2));
    }
  } net;
  auto [groups, scales] = train::encoder_scaled_groups(net, 0.05, 0.1);
  ASSERT_EQ(groups.size(), 4u);  // encoder weight, encoder bias, head weight, head bias
  EXPECT_EQ(scales, (std::vector<double>{0.1, 0.1, 1.0, 1.0}));
  torch::optim::AdamW opt(std::move(groups), torch::optim::AdamWOptions(1e-3));
  train::set_lr(opt, 2e-3, scales);
  const auto lr = [&](size_t i) { return static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[i].options()).lr(); };
  const auto wd = [&](size_t i) {
    return static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[i].options()).weight_decay();
  };
  EXPECT_DOUBLE_EQ(lr(0), 2e-4);
  EXPECT_DOUBLE_EQ(lr(1), 2e-4);
  EXPECT_DOUBLE_EQ(lr(2), 2e-3);
  EXPECT_DOUBLE_EQ(wd(0), 0.05);
  EXPECT_DOUBLE_EQ(wd(1), 0.0);
  EXPECT_EQ(opt.param_groups()[0].params()[0].sizes(), (std::vector<int64_t>{4, 3}));  // the encoder's weight
  EXPECT_EQ(opt.param_groups()[2].params()[0].sizes(), (std::vector<int64_t>{2, 4}));  // the head's
}
