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

namespace fratmae::train {

struct SegLoss {
  torch::Tensor loss, dice, ce;  // scalars; dice is the Dice *loss* term
};

/// logits (B, K, H, W, D), truth (B, 1, H, W, D) or (B, H, W, D) integer labels in [0, K).
SegLoss dice_ce_loss(const torch::Tensor& logits, const torch::Tensor& truth);

}  // namespace fratmae::train
