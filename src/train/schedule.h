// Learning-rate schedule: linear warm-up, then cosine annealing to min_lr (paper: AdamW with
// cosine annealing; warm-up is MAE's practice).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fratmae::train {

/// Learning rate for optimizer step `step` (0-based) of `total`.
inline double cosine_lr(int64_t step, int64_t total, int64_t warmup, double base, double min_lr) {
  if (warmup > 0 && step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = std::max<int64_t>(1, total - warmup);
  const double t = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
  return min_lr + 0.5 * (base - min_lr) * (1.0 + std::cos(M_PI * t));
}

}  // namespace fratmae::train
