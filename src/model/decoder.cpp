#include "model/decoder.h"

#include "core/gemm.h"

#include "model/patch.h"

namespace fratmae::model {

namespace nn = torch::nn;

DecoderImpl::DecoderImpl(const DecoderConfig& cfg, int64_t encoder_dim, int64_t patch,
                         std::array<int64_t, 3> grid, bool cross_, int64_t in_chans)
    : cross(cross_), dim(cfg.dim) {
  embed = register_module("embed", nn::Linear(encoder_dim, cfg.dim));
  if (cross) context_embed = register_module("context_embed", nn::Linear(encoder_dim, cfg.dim));
  mask_token = register_parameter("mask_token", torch::zeros({1, 1, cfg.dim}));
  const auto pe = sincos_pos_embed_3d(grid, cfg.dim);
  pos_embed = register_buffer("pos_embed", torch::cat({torch::zeros({1, cfg.dim}), pe}, 0).unsqueeze(0));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < cfg.depth; ++i) {
    if (cross) blocks->push_back(CrossBlock(cfg.dim, cfg.heads, cfg.mlp_ratio));
    else blocks->push_back(Block(cfg.dim, cfg.heads, cfg.mlp_ratio));
  }
  norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({cfg.dim}).eps(1e-6)));
  pred = register_module("pred", nn::Linear(cfg.dim, patch * patch * patch * in_chans));
  init_transformer_weights(*this);
  torch::NoGradGuard ng;
  nn::init::normal_(mask_token, 0.0, 0.02);
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& latent, const torch::Tensor& ids_restore,
                                   const torch::Tensor& context) {
  auto x = gemm::linear(latent, embed->weight, embed->bias);  // (B, 1 + L_keep, Cd)
  const int64_t B = x.size(0), L = ids_restore.size(1), keep = x.size(1) - 1;
  const auto masks = mask_token.expand({B, L - keep, dim});
  auto tokens = torch::cat({x.narrow(1, 1, keep), masks}, 1);                        // (B, L, Cd) shuffled
  tokens = tokens.gather(1, ids_restore.unsqueeze(-1).expand({-1, -1, dim}));        // token order
  x = torch::cat({x.narrow(1, 0, 1), tokens}, 1) + pos_embed;                        // (B, 1 + L, Cd)
  const auto ctx = cross ? gemm::linear(context, context_embed->weight, context_embed->bias)  // (B, 1 + L, Cd)
                         : torch::Tensor();
  for (const auto& blk : *blocks)
    x = cross ? blk->as<CrossBlock>()->forward(x, ctx) : blk->as<Block>()->forward(x);
  return gemm::linear(norm->forward(x), pred->weight, pred->bias).narrow(1, 1, L);  // drop CLS
}

}  // namespace fratmae::model
