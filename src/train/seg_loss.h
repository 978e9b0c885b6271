// Dice + cross-entropy (paper §2.4, the segmentation loss).
//
//   Dice term: 1 - mean over the foreground classes (1..K-1) of
//              (2 sum(p t) + eps) / (sum(p) + sum(t) + eps), p the softmax probabilities, t the
//              one-hot truth, the sums over the whole batch and all voxels ("batch Dice", as
//              nnU-Net does), eps = 1e-5. Lesions are a tiny fraction of a crop and many crops
//              hold none: a per-sample Dice that includes the background is dominated by the
//              background and by empty crops, and a model that predicts nothing settles at
//              half the loss; batch foreground Dice keeps the lesions' gradient.
//   CE term:   mean voxel-wise cross-entropy.
//   loss = dice + ce.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace fratmae::train {

struct SegLoss {
  torch::Tensor loss, dice, ce;  // scalars; dice is the Dice *loss* term
};

/// Every data-parallel rank's rows of a (1, N) tensor, (W, N) in rank order, with the gradient
/// semantics of train::ProcessGroup::all_gather_rows (train/distributed.h).
using RowGather = std::function<torch::Tensor(const torch::Tensor&)>;

/// logits (B, K, H, W, D), truth (B, 1, H, W, D) or (B, H, W, D) integer labels in [0, K).
/// gather (data-parallel training): the Dice sums are taken over every rank's samples, so the
/// loss is the one of the global batch (the CE's local mean averages to the global one when the
/// gradients are averaged).
SegLoss dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& truth, const RowGather& gather = {});

/// Deep supervision (nnU-Net's): logits[l] (B, K, H / 2^l, W / 2^l, D / 2^l), finest first
/// (model::SegmentationNet::forward_levels); level l is scored by dice_ce_loss against the truth
/// pooled by 2^l with a majority vote (a coarse voxel is lesion when at least half of its fine
/// voxels are: what a coarse level can represent; binary labels) with weight 2^-l, the weights
/// normalised to sum to 1. The returned dice and ce are level 0's (comparable with a run
/// without deep supervision); loss is the weighted sum. One level: exactly dice_ce_loss.
/// (Max pooling instead, a coarse voxel lesion if any fine one is, scored lower: docs/experiments.md.)
SegLoss deep_supervision_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& truth,
                              const RowGather& gather = {});

}  // namespace fratmae::train
