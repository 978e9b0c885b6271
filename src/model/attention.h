// Transformer building blocks: self-attention, cross-attention, MLP, pre-norm blocks.
// Attention goes through compat::scaled_dot_product_attention (fused where LibTorch has it).
#pragma once

#include <torch/torch.h>

namespace fratmae::model {

/// Multi-head attention with separate query and key/value inputs (self-attention when they
/// are the same tensor). q: (B, Tq, C), kv: (B, Tk, C) -> (B, Tq, C).
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& kv);
  int64_t heads;
  torch::nn::Linear q_proj{nullptr}, kv_proj{nullptr}, proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

/// Pre-norm transformer block: x + attn(norm(x)); x + mlp(norm(x)).
struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t dim, int64_t heads, double mlp_ratio);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

/// The cross-attention decoder block (paper eq. 2): self-attention over the target's tokens,
/// cross-attention with queries from the target and keys/values from the other modality's
/// encoding, MLP; each pre-norm with a residual. x: (B, T, C), context: (B, Tc, C).
struct CrossBlockImpl : torch::nn::Module {
  CrossBlockImpl(int64_t dim, int64_t heads, double mlp_ratio);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);
  torch::nn::LayerNorm norm1{nullptr}, norm_q{nullptr}, norm_kv{nullptr}, norm2{nullptr};
  Attention self_attn{nullptr}, cross_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(CrossBlock);

/// Xavier-uniform weights and zero biases for every Linear, unit/zero LayerNorms (MAE's init).
void init_transformer_weights(torch::nn::Module& m);

}  // namespace fratmae::model
