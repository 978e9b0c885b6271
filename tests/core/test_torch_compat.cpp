#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/torch_compat.h"

using namespace fratmae;

TEST(TorchCompat, FusedAndPlainAttentionAgree) {
  torch::manual_seed(0);
  const auto q = torch::randn({2, 3, 5, 8}), k = torch::randn({2, 3, 7, 8}),
             v = torch::randn({2, 3, 7, 8});
  const auto a = compat::scaled_dot_product_attention(q, k, v);
  const auto b = compat::scaled_dot_product_attention(q, k, v, {}, false, /*force_plain=*/true);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // Reference: softmax(q k^T / sqrt(d)) v written out.
  const auto ref = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1).matmul(v);
  EXPECT_TRUE(torch::allclose(b, ref, 1e-5, 1e-6));
}

TEST(TorchCompat, CausalMaskHidesLaterKeys) {
  torch::manual_seed(1);
  const auto q = torch::randn({1, 2, 6, 4}), k = torch::randn({1, 2, 6, 4}),
             v = torch::randn({1, 2, 6, 4});
  const auto a = compat::scaled_dot_product_attention(q, k, v, {}, /*is_causal=*/true);
  const auto b = compat::scaled_dot_product_attention(q, k, v, {}, true, true);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // The first query sees only the first key.
  EXPECT_TRUE(torch::allclose(b.select(2, 0), v.select(2, 0), 1e-6, 1e-6));
}
