#include "train/seg_loss.h"

namespace fratmae::train {

SegLoss dice_ce_loss(const torch::Tensor& logits_in, const torch::Tensor& truth_in) {
  // bf16/fp16 logits (autocast) are scored in float32; double stays double (gradient checks).
  const auto logits = logits_in.scalar_type() == torch::kDouble ? logits_in : logits_in.to(torch::kFloat);
  const int64_t K = logits.size(1);
  auto labels = truth_in.dim() == logits.dim() ? truth_in.squeeze(1) : truth_in;
  labels = labels.to(torch::kLong);                                         // (B, H, W, D)
  const auto prob = torch::softmax(logits, 1);                              // (B, K, H, W, D)
  const auto onehot = torch::one_hot(labels, K).permute({0, 4, 1, 2, 3}).to(prob.dtype());
  const auto dims = std::vector<int64_t>{0, 2, 3, 4};  // batch and voxels
  const double eps = 1e-5;
  const auto fg_p = prob.narrow(1, 1, K - 1), fg_t = onehot.narrow(1, 1, K - 1);
  const auto inter = (fg_p * fg_t).sum(dims), denom = fg_p.sum(dims) + fg_t.sum(dims);  // (K - 1)
  SegLoss l;
  l.dice = 1.0 - ((2.0 * inter + eps) / (denom + eps)).mean();
  l.ce = torch::nn::functional::cross_entropy(logits, labels);
  l.loss = l.dice + l.ce;
  return l;
}

}  // namespace fratmae::train
