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
// CUDA float32 parameters (LibTorch >= 2.0) take at::_fused_adamw_, the multi-tensor kernel of
// torch.optim.AdamW(fused=True): one launch per group instead of ~8 per parameter, no host
// synchronisation. Everything else (other dtypes, amsgrad, mixed devices) takes LibTorch's own
// AdamW::step.
// Parameters without a gradient are skipped, as in AdamW.
#pragma once

#include <torch/optim/adamw.h>

#include <unordered_map>

namespace fratmae::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  torch::optim::AdamWParamState& state_of(const at::Tensor& p);  // created on first use
  void cuda_update();  // every parameter with a gradient is a CUDA float32 tensor
  struct DeviceStep {
    at::Tensor count;  // float32 0-d on the parameter's device
    int64_t host = 0;  // the AdamWParamState step it was last set to
  };
  std::unordered_map<const void*, DeviceStep> device_steps_;  // by TensorImpl
};

}  // namespace fratmae::train
