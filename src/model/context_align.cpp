#include "model/context_align.h"

#include <cmath>

namespace fratmae::model {

torch::Tensor info_nce(const torch::Tensor& z_a, const torch::Tensor& z_b, const torch::Tensor& log_inv_tau,
                       bool symmetric) {
  const auto a = torch::nn::functional::normalize(z_a, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto b = torch::nn::functional::normalize(z_b, torch::nn::functional::NormalizeFuncOptions().dim(1));
  // CLIP clamps the scale at 100 (tau >= 0.01) for stability.
  const auto logits = a.matmul(b.t()) * log_inv_tau.clamp_max(std::log(100.0)).exp();  // (N, N)
  const auto target = torch::arange(a.size(0), torch::TensorOptions().dtype(torch::kLong).device(a.device()));
  auto loss = torch::cross_entropy_loss(logits, target);
  if (symmetric) loss = 0.5 * (loss + torch::cross_entropy_loss(logits.t(), target));
  return loss;
}

ContextAlignImpl::ContextAlignImpl(int64_t image_dim, int64_t embed_dim, double temperature, bool symmetric_)
    : symmetric(symmetric_) {
  pet_proj = register_module("pet_proj", torch::nn::Linear(torch::nn::LinearOptions(image_dim, embed_dim).bias(false)));
  log_inv_tau = register_parameter("log_inv_tau", torch::full({}, std::log(1.0 / temperature)));
}

torch::Tensor ContextAlignImpl::forward(const torch::Tensor& pet_cls, const torch::Tensor& text) {
  return info_nce(pet_proj->forward(pet_cls), text, log_inv_tau, symmetric);
}

}  // namespace fratmae::model
