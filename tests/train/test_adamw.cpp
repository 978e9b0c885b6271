// train/adamw: FusedAdamW takes the same steps as LibTorch's AdamW and shares its state format.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <sstream>

#include "train/adamw.h"

using namespace fratmae;

namespace {
std::vector<torch::optim::OptimizerParamGroup> groups(const std::vector<at::Tensor>& ps) {
  std::vector<torch::optim::OptimizerParamGroup> g;
  g.emplace_back(std::vector<at::Tensor>{ps[0]}, std::make_unique<torch::optim::AdamWOptions>(
                                                     torch::optim::AdamWOptions(1e-2).weight_decay(0.05).betas({0.9, 0.95})));
  g.emplace_back(std::vector<at::Tensor>{ps[1]}, std::make_unique<torch::optim::AdamWOptions>(
                                                     torch::optim::AdamWOptions(1e-2).weight_decay(0.0).betas({0.9, 0.95})));
  return g;
}
}  // namespace

TEST(FusedAdamW, SameTrajectoryAndStateAsAdamW) {
  torch::manual_seed(0);
  const auto w0 = torch::randn({16, 8}), b0 = torch::randn({16});
  std::vector<at::Tensor> a{w0.clone().requires_grad_(true), b0.clone().requires_grad_(true)};
  std::vector<at::Tensor> f{w0.clone().requires_grad_(true), b0.clone().requires_grad_(true)};
  torch::optim::AdamW ref(groups(a), torch::optim::AdamWOptions(1e-2));
  train::FusedAdamW fused(groups(f), torch::optim::AdamWOptions(1e-2));
  const auto x = torch::randn({32, 8});
  for (int step = 0; step < 6; ++step) {
    for (auto* p : {&a, &f}) {
      for (auto& t : *p) t.mutable_grad() = at::Tensor();
      (torch::tanh(at::linear(x, (*p)[0], (*p)[1])).square().mean()).backward();
    }
    if (step == 3) f[1].mutable_grad() = at::Tensor(), a[1].mutable_grad() = at::Tensor();  // a parameter without grad
    ref.step();
    fused.step();
    for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::allclose(a[i], f[i], 1e-6, 1e-7)) << "step " << step << " param " << i;
  }
  // The state round-trips through LibTorch's serializer into a plain AdamW.
  std::stringstream buf;
  torch::save(fused, buf);
  std::vector<at::Tensor> c{f[0].detach().clone().requires_grad_(true), f[1].detach().clone().requires_grad_(true)};
  torch::optim::AdamW back(groups(c), torch::optim::AdamWOptions(1e-2));
  torch::load(back, buf);
  // One more step from the loaded state takes the same step as the reference.
  for (auto* p : {&a, &c}) {
    for (auto& t : *p) t.mutable_grad() = at::Tensor();
    (torch::tanh(at::linear(x, (*p)[0], (*p)[1])).square().mean()).backward();
  }
  ref.step();
  back.step();
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::allclose(a[i], c[i], 1e-6, 1e-7)) << "param " << i;
}
