// A ViT encoder for one modality, with MAE's random masking.
//
// Masking contract (as in MAE's random_masking):
//   mask:        (B, L) float, 0 = keep (visible), 1 = remove (masked), in original token order
//   ids_keep:    (B, L_keep) indices of the visible tokens, in the order fed to the encoder
//   ids_restore: (B, L) argsort of the shuffle; gathering [visible, mask tokens] with it
//                restores the original token order
// With mask_ratio 0 nothing is shuffled: tokens stay in raster order (downstream use).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/patch.h"

namespace fratmae::model {

struct Masking {
  torch::Tensor mask, ids_keep, ids_restore;
};

/// MAE random masking of L tokens for B samples, keeping round(L * (1 - ratio)) of them.
/// noise: optional (B, L) uniform noise (tests); otherwise drawn from `gen`.
Masking random_masking(int64_t B, int64_t L, double ratio, const torch::TensorOptions& opts,
                       std::optional<torch::Generator> gen = std::nullopt,
                       const torch::Tensor& noise = {});

struct EncoderOutput {
  torch::Tensor latent;              // (B, 1 + L_keep, C), CLS first, after the final norm
  std::vector<torch::Tensor> hidden; // per block (B, 1 + L_keep, C), before the final norm
  Masking masking;                   // undefined tensors when nothing was masked
};

struct ViTEncoderImpl : torch::nn::Module {
  ViTEncoderImpl(const EncoderConfig& cfg, int64_t patch, std::array<int64_t, 3> grid, int64_t in_chans = 1);
  /// x: (B, 1, H, W, D). mask_ratio 0 = no masking.
  EncoderOutput forward(const torch::Tensor& x, double mask_ratio = 0.0,
                        std::optional<torch::Generator> gen = std::nullopt,
                        const torch::Tensor& noise = {});
  PatchEmbed3d patch_embed{nullptr};
  torch::Tensor cls_token, pos_embed;  // (1, 1, C) parameter; (1, L, C) fixed buffer
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  int64_t dim;
};
TORCH_MODULE(ViTEncoder);

}  // namespace fratmae::model
