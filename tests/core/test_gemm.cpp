// core/gemm: the oneDNN products against LibTorch's, values and gradients.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/gemm.h"

using namespace fratmae;

namespace {
struct OneDnn {  // the oneDNN backend for one test, LibTorch's afterwards
  OneDnn() { gemm::set_backend("onednn"); }
  ~OneDnn() { gemm::set_backend("libtorch"); }
};
}  // namespace

TEST(Gemm, BackendsAndNames) {
  EXPECT_STREQ(gemm::set_backend("libtorch"), "libtorch");
  EXPECT_THROW(gemm::set_backend("cublas-on-cpu"), Error);
  // Debian's LibTorch ships libdnnl: the oneDNN path is there to be taken.
  OneDnn on;
  EXPECT_STREQ(gemm::backend(), "onednn");
}

TEST(Gemm, LinearAndMatmulMatchLibTorchWithGradients) {
  OneDnn on;
  torch::manual_seed(0);
  const auto x0 = torch::randn({3, 7, 33}), w0 = torch::randn({17, 33}), b0 = torch::randn({17});
  auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  auto xr = x0.clone().requires_grad_(true), wr = w0.clone().requires_grad_(true), br = b0.clone().requires_grad_(true);
  const auto y = gemm::linear(x, w, b), yr = at::linear(xr, wr, br);
  EXPECT_TRUE(torch::allclose(y, yr, 1e-5, 1e-5));
  const auto g = torch::randn_like(y);
  y.backward(g);
  yr.backward(g);
  EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(w.grad(), wr.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(b.grad(), br.grad(), 1e-5, 1e-5));

  // Batched products with transposed views (attention: q k^T, then p v).
  const auto q = torch::randn({2, 4, 9, 8}, torch::requires_grad()), k = torch::randn({2, 4, 11, 8}, torch::requires_grad());
  const auto s = gemm::matmul(q, k.transpose(-2, -1)), sr = at::matmul(q, k.transpose(-2, -1));
  EXPECT_TRUE(torch::allclose(s, sr, 1e-5, 1e-5));
  const auto gq = torch::autograd::grad({s.square().sum()}, {q, k});
  const auto gqr = torch::autograd::grad({sr.square().sum()}, {q, k});
  EXPECT_TRUE(torch::allclose(gq[0], gqr[0], 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(gq[1], gqr[1], 1e-4, 1e-4));
  // Other dtypes go to LibTorch unchanged.
  const auto d = torch::randn({4, 5}, torch::kDouble), e = torch::randn({5, 3}, torch::kDouble);
  EXPECT_TRUE(torch::equal(gemm::matmul(d, e), at::matmul(d, e)));
}
