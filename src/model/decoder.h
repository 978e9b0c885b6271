// MAE decoders: the target's visible tokens plus mask tokens, back in token order, through
// decoder blocks, to patch voxels. With `cross` (FratMAE, paper eq. 2) every block also
// attends from the target's tokens to the other modality's encoding; without it, this is
// MAE's self-attention decoder.
#pragma once

#include <torch/torch.h>

#include "model/attention.h"
#include "model/config.h"

namespace fratmae::model {

struct DecoderImpl : torch::nn::Module {
  DecoderImpl(const DecoderConfig& cfg, int64_t encoder_dim, int64_t patch, std::array<int64_t, 3> grid,
              bool cross, int64_t in_chans = 1);
  /// latent: (B, 1 + L_keep, Ce) target encoding (CLS first); ids_restore: (B, L);
  /// context: (B, 1 + L, Ce) the other modality's full encoding (used when cross).
  /// Returns (B, L, p^3 * in_chans) predicted patch voxels.
  torch::Tensor forward(const torch::Tensor& latent, const torch::Tensor& ids_restore,
                        const torch::Tensor& context = {});
  bool cross;
  int64_t dim;
  torch::nn::Linear embed{nullptr}, context_embed{nullptr}, pred{nullptr};
  torch::Tensor mask_token, pos_embed;  // (1, 1, Cd) parameter; (1, 1 + L, Cd) fixed (CLS row zero)
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

}  // namespace fratmae::model
