// Patches and positions: 3D patch embedding, patchify/unpatchify, fixed 3D sine-cosine
// position embedding.
#pragma once

#include <torch/torch.h>

#include <array>

namespace fratmae::model {

/// (B, C, H, W, D) -> (B, L, p^3 * C), L = (H/p)(W/p)(D/p), tokens in H, W, D raster order
/// (D fastest), each patch flattened as (ph, pw, pd, C).
torch::Tensor patchify(const torch::Tensor& x, int64_t p);
/// Inverse of patchify for a grid of (h, w, d) tokens and C channels.
torch::Tensor unpatchify(const torch::Tensor& tokens, int64_t p, std::array<int64_t, 3> grid, int64_t channels);

/// Fixed 3D sine-cosine position embedding, (h*w*d, dim), rows in patchify's token order.
/// dim is split into three even parts (H, W, D; the last takes the remainder); each part is
/// MAE's 1D sine-cosine embedding of that axis' token index.
torch::Tensor sincos_pos_embed_3d(std::array<int64_t, 3> grid, int64_t dim);

/// Conv3d patch embedding: (B, C, H, W, D) -> (B, L, dim).
struct PatchEmbed3dImpl : torch::nn::Module {
  PatchEmbed3dImpl(int64_t in_chans, int64_t dim, int64_t patch);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv3d proj{nullptr};
};
TORCH_MODULE(PatchEmbed3d);

}  // namespace fratmae::model
