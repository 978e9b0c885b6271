// FusedAdamW: torch::optim::AdamW with one pass over memory per parameter on the CPU.
//
// LibTorch's AdamW (1.13 and 2.x, C++) updates each parameter with about eight tensor
// operations (decay, two moment updates, sqrt, divide, add, addcdiv), i.e. eight passes over
// the parameter, its gradient and its moments, plus the per-operation dispatch. This class
// keeps AdamW's interface, options, parameter groups and state (AdamWParamState: step,
// exp_avg, exp_avg_sq), so checkpoints and code written for torch::optim::AdamW work
// unchanged (it *is* an AdamW), and replaces step(): for CPU float32 parameters without
// amsgrad the whole update is one multi-threaded loop:
//
//   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// Everything else (CUDA tensors, other dtypes, amsgrad) takes LibTorch's own AdamW::step.
// Parameters without a gradient are skipped, as in AdamW.
#pragma once

#include <torch/optim/adamw.h>

namespace fratmae::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace fratmae::train
