// Helpers for the model tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace fratmae::test {

// Directional gradient check in double precision: <grad f, v> against the central
// difference (f(p + eps v) - f(p - eps v)) / (2 eps) for a random direction v over all
// parameters of `m`.
inline void gradient_check(torch::nn::Module& m, const std::function<torch::Tensor()>& f) {
  m.to(torch::kDouble);
  m.zero_grad();
  torch::manual_seed(123);
  f().backward();
  std::vector<torch::Tensor> dirs;
  double analytic = 0;
  for (auto& p : m.parameters()) {
    dirs.push_back(torch::randn_like(p));
    if (p.grad().defined()) analytic += (p.grad() * dirs.back()).sum().item<double>();
  }
  const double eps = 1e-6;
  auto shifted = [&](double s) {
    torch::NoGradGuard ng;
    size_t i = 0;
    for (auto& p : m.parameters()) p.add_(dirs[i++], s);
    torch::manual_seed(123);
    const double v = f().item<double>();
    i = 0;
    for (auto& p : m.parameters()) p.sub_(dirs[i++], s);
    return v;
  };
  const double numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
  EXPECT_NEAR(analytic, numeric, 1e-5 * std::max(1.0, std::abs(numeric)));
}

}  // namespace fratmae::test
