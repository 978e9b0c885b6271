// CLIP's text tower: token + learned position embeddings, pre-norm transformer with a causal
// mask, final LayerNorm, features at the end-of-text token (the highest id in each row),
// linear projection. Parameter names follow open_clip / OpenAI CLIP's state dict
// (token_embedding.weight, positional_embedding, transformer.resblocks.N.{ln_1, attn.in_proj_weight,
// attn.in_proj_bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_final, text_projection), so
// pretrained CLIP text weights load directly (load_clip_text_weights also maps Hugging Face
// names).
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "model/config.h"

namespace fratmae::model {

struct ClipAttentionImpl : torch::nn::Module {
  ClipAttentionImpl(int64_t width, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, C), causal
  int64_t heads;
  torch::Tensor in_proj_weight, in_proj_bias;  // (3C, C), (3C)
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  explicit ClipMlpImpl(int64_t width);
  torch::Tensor forward(const torch::Tensor& x);  // QuickGELU, as OpenAI CLIP
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int64_t width, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  ClipAttention attn{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ResidualBlock);

struct TextTransformerImpl : torch::nn::Module {
  TextTransformerImpl(int64_t width, int64_t layers, int64_t heads);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::ModuleList resblocks{nullptr};
};
TORCH_MODULE(TextTransformer);

struct TextEncoderImpl : torch::nn::Module {
  explicit TextEncoderImpl(const TextConfig& cfg);
  /// ids: (B, context) int64 CLIP tokens (start, text, end, zero padding) -> (B, embed_dim).
  torch::Tensor forward(const torch::Tensor& ids);
  TextConfig cfg;
  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding, text_projection;  // (context, width), (width, embed_dim)
  TextTransformer transformer{nullptr};
  torch::nn::LayerNorm ln_final{nullptr};
};
TORCH_MODULE(TextEncoder);

/// Load pretrained CLIP text weights from a safetensors file in open_clip / OpenAI naming
/// (optionally under a prefix such as "text." or "model."; visual.* and other tensors are
/// ignored) or Hugging Face CLIPTextModel(WithProjection) naming (text_model.*,
/// text_projection.weight). Throws fratmae::Error listing any missing tensor or shape mismatch.
void load_clip_text_weights(TextEncoder& enc, const std::filesystem::path& file);

}  // namespace fratmae::model
