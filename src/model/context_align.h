// ContextAlign (paper section 2.2): the PET CLS feature aligned with the text feature of the
// case's metadata prompt by InfoNCE (eq. 4) with a learnable temperature.
#pragma once

#include <torch/torch.h>

namespace fratmae::model {

/// InfoNCE over a batch of N pairs: z_a, z_b (N, C), L2-normalised here; logits =
/// z_a z_b^T / tau; loss = cross-entropy with the diagonal as targets (a->b), averaged with
/// b->a when symmetric. Returns a scalar.
torch::Tensor info_nce(const torch::Tensor& z_a, const torch::Tensor& z_b, const torch::Tensor& log_inv_tau,
                       bool symmetric);

struct ContextAlignImpl : torch::nn::Module {
  ContextAlignImpl(int64_t image_dim, int64_t embed_dim, double temperature, bool symmetric);
  /// pet_cls: (N, image_dim), text: (N, embed_dim) -> scalar loss.
  torch::Tensor forward(const torch::Tensor& pet_cls, const torch::Tensor& text);
  torch::nn::Linear pet_proj{nullptr};
  torch::Tensor log_inv_tau;  // log(1 / temperature), learnable (CLIP's logit_scale)
  bool symmetric;
};
TORCH_MODULE(ContextAlign);

}  // namespace fratmae::model
