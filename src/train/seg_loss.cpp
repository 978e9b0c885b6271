#include "train/seg_loss.h"

namespace fratmae::train {

SegLoss dice_ce_loss(const torch::Tensor& logits_in, const torch::Tensor& truth_in, const RowGather& gather) {
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
  auto inter = (fg_p * fg_t).sum(dims), denom = fg_p.sum(dims) + fg_t.sum(dims);  // (K - 1)
  if (gather) {  // the sums of the global batch: (W, 2 (K - 1)) summed over ranks
    const auto all = gather(torch::cat({inter, denom}).unsqueeze(0)).sum(0);
    inter = all.narrow(0, 0, K - 1), denom = all.narrow(0, K - 1, K - 1);
  }
  SegLoss l;
  l.dice = 1.0 - ((2.0 * inter + eps) / (denom + eps)).mean();
  l.ce = torch::nn::functional::cross_entropy(logits, labels);
  l.loss = l.dice + l.ce;
  return l;
}

namespace {
// (B, 1, H, W, D) binary labels -> (B, 1, H/f, W/f, D/f): lesion where at least half of the
// f^3 fine voxels are (a majority vote, as nnU-Net's nearest-neighbour down-sampling of labels).
torch::Tensor majority_pooled(const torch::Tensor& truth, int64_t f) {
  return torch::avg_pool3d((truth > 0).to(torch::kFloat), {f, f, f}, {f, f, f}).ge(0.5);
}
}  // namespace

SegLoss deep_supervision_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& truth_in,
                              const RowGather& gather) {
  TORCH_CHECK(!logits.empty(), "deep_supervision_loss: no logits");
  const auto truth = truth_in.dim() == logits[0].dim() ? truth_in : truth_in.unsqueeze(1);  // (B, 1, H, W, D)
  SegLoss out = dice_ce_loss(logits[0], truth, gather);
  if (logits.size() == 1) return out;
  double total_w = 1.0;
  torch::Tensor sum = out.loss;
  for (size_t l = 1; l < logits.size(); ++l) {
    const int64_t f = int64_t{1} << l;
    const auto pooled = majority_pooled(truth, f);
    TORCH_CHECK(pooled.sizes().slice(2) == logits[l].sizes().slice(2), "deep_supervision_loss: level ", l,
                " logits ", logits[l].sizes(), " do not match the truth pooled by ", f, ": ", pooled.sizes());
    const double w = 1.0 / static_cast<double>(f);
    sum = sum + w * dice_ce_loss(logits[l], pooled, gather).loss;
    total_w += w;
  }
  out.loss = sum / total_w;
  return out;
}

}  // namespace fratmae::train
