#include "model/vit_encoder.h"

#include <cmath>

namespace fratmae::model {

Masking random_masking(int64_t B, int64_t L, double ratio, const torch::TensorOptions& opts,
                       std::optional<torch::Generator> gen, const torch::Tensor& noise_in) {
  const int64_t keep = static_cast<int64_t>(std::llround(static_cast<double>(L) * (1.0 - ratio)));
  // With a generator the noise is drawn on the CPU (same masks on every device), then moved.
  torch::Tensor noise = noise_in.defined() ? noise_in.to(opts.device())
                        : gen ? torch::rand({B, L}, *gen, torch::kFloat).to(opts.device())
                              : torch::rand({B, L}, opts.dtype(torch::kFloat));  // (B, L)
  const auto ids_shuffle = noise.argsort(/*dim=*/int64_t{1}, /*descending=*/false);                                      // ascending: small noise kept
  Masking m;
  m.ids_restore = ids_shuffle.argsort(int64_t{1}, false);                     // (B, L)
  m.ids_keep = ids_shuffle.narrow(1, 0, keep);                // (B, L_keep)
  m.mask = torch::ones({B, L}, opts.dtype(torch::kFloat));
  m.mask.narrow(1, 0, keep).zero_();
  m.mask = m.mask.gather(1, m.ids_restore);                   // back to original order
  return m;
}

ViTEncoderImpl::ViTEncoderImpl(const EncoderConfig& cfg, int64_t patch, std::array<int64_t, 3> grid,
                               int64_t in_chans)
    : dim(cfg.dim) {
  patch_embed = register_module("patch_embed", PatchEmbed3d(in_chans, cfg.dim, patch));
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, cfg.dim}));
  pos_embed = register_buffer("pos_embed", sincos_pos_embed_3d(grid, cfg.dim).unsqueeze(0));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.depth; ++i) blocks->push_back(Block(cfg.dim, cfg.heads, cfg.mlp_ratio));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.dim}).eps(1e-6)));
  init_transformer_weights(*blocks);
  torch::NoGradGuard ng;
  torch::nn::init::normal_(cls_token, 0.0, 0.02);
}

EncoderOutput ViTEncoderImpl::forward(const torch::Tensor& x, double mask_ratio,
                                      std::optional<torch::Generator> gen, const torch::Tensor& noise) {
  auto t = patch_embed->forward(x) + pos_embed;  // (B, L, C)
  const int64_t B = t.size(0), L = t.size(1);
  EncoderOutput out;
  if (mask_ratio > 0) {
    out.masking = random_masking(B, L, mask_ratio, t.options(), gen, noise);
    t = t.gather(1, out.masking.ids_keep.unsqueeze(-1).expand({-1, -1, dim}));  // (B, L_keep, C)
  }
  t = torch::cat({cls_token.expand({B, -1, -1}), t}, 1);  // (B, 1 + L_keep, C)
  for (const auto& blk : *blocks) {
    t = blk->as<Block>()->forward(t);
    out.hidden.push_back(t);
  }
  out.latent = norm->forward(t);
  return out;
}

}  // namespace fratmae::model
