// Every difference between the LibTorch versions fratmae builds against lives here.
//
//   Debian 12's libtorch-dev is 1.13 (CPU only); GPU machines use a CUDA LibTorch 2.x.
//   The rest of the code calls these wrappers and never tests TORCH_VERSION itself.
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <torch/version.h>

#include "core/gemm.h"

namespace fratmae::compat {

/// True when this LibTorch has at::scaled_dot_product_attention (fused / flash kernels, >= 2.0).
constexpr bool kHasFusedAttention = TORCH_VERSION_MAJOR >= 2;

/// Human-readable LibTorch version, e.g. "1.13.1".
inline const char* torch_version() { return TORCH_VERSION; }

/// softmax(q k^T / sqrt(d) + mask) v, with q, k, v of shape (B, heads, T, d).
/// attn_mask is additive (float, broadcastable to (B, heads, Tq, Tk)) or undefined;
/// is_causal masks keys after each query. Uses the fused kernel where LibTorch has one,
/// the plain formula otherwise (its products through gemm::matmul); the two agree to
/// floating-point tolerance (tested).
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v,
                                               const at::Tensor& attn_mask = {},
                                               bool is_causal = false,
                                               bool force_plain = false) {
#if TORCH_VERSION_MAJOR >= 2
  if (!force_plain) {
    return at::scaled_dot_product_attention(
        q, k, v, attn_mask.defined() ? c10::optional<at::Tensor>(attn_mask) : c10::nullopt,
        /*dropout_p=*/0.0, is_causal);
  }
#endif
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = gemm::matmul(q, k.transpose(-2, -1)) * scale;  // (B, h, Tq, Tk)
  if (is_causal) {
    const int64_t tq = q.size(-2), tk = k.size(-2);
    at::Tensor causal = at::ones({tq, tk}, q.options().dtype(at::kBool)).triu(1);
    scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
  }
  if (attn_mask.defined()) scores = scores + attn_mask;
  return gemm::matmul(at::softmax(scores, -1), v);  // (B, h, Tq, d)
}

/// True when this LibTorch has at::_fused_adamw_ (one multi-tensor CUDA kernel for AdamW, the
/// kernel behind torch.optim.AdamW(fused=True); >= 2.0), unless the build turns it off with
/// -DFRATMAE_NO_FUSED_ADAMW (a fallback for a LibTorch whose signature differs).
#if TORCH_VERSION_MAJOR >= 2 && !defined(FRATMAE_NO_FUSED_ADAMW)
constexpr bool kHasFusedAdamW = true;
#else
constexpr bool kHasFusedAdamW = false;
#endif

/// AdamW on lists of CUDA tensors in one multi-tensor kernel (decoupled weight decay, no
/// amsgrad): `steps` are float32 0-d tensors on the device holding each parameter's step count
/// *after* this step's increment. Throws where kHasFusedAdamW is false.
inline void fused_adamw_(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                         at::TensorList exp_avg_sqs, at::TensorList steps, double lr, double beta1, double beta2,
                         double weight_decay, double eps) {
#if TORCH_VERSION_MAJOR >= 2 && !defined(FRATMAE_NO_FUSED_ADAMW)
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/{});
#else
  (void)params, (void)grads, (void)exp_avgs, (void)exp_avg_sqs, (void)steps, (void)lr, (void)beta1, (void)beta2,
      (void)weight_decay, (void)eps;
  throw std::runtime_error("fused AdamW needs LibTorch >= 2.0");
#endif
}

/// The key torch::optim::Optimizer's state_ map uses for a parameter: the TensorImpl address,
/// as a string (LibTorch 1.13) or as the pointer itself (newer versions).
template <class StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap&, const at::Tensor& p) {
  if constexpr (std::is_same_v<typename StateMap::key_type, std::string>) {
    std::ostringstream os;  // what c10::guts::to_string did
    os << static_cast<const void*>(p.unsafeGetTensorImpl());
    return os.str();
  } else {
    return static_cast<typename StateMap::key_type>(p.unsafeGetTensorImpl());
  }
}

/// Scoped bf16 (or other) autocast on CUDA. No-op on CPU tensors' device type.
/// LibTorch >= 2.4 takes a device type in the autocast calls; older versions are CUDA-only.
class CudaAutocast {
 public:
  explicit CudaAutocast(bool enabled, at::ScalarType dtype = at::kBFloat16) : enabled_(enabled) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
#endif
  }
  ~CudaAutocast() {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
    at::autocast::clear_cache();
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  bool enabled_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace fratmae::compat

// c10d (included only by train/distributed.cpp, which defines FRATMAE_COMPAT_C10D after the
// c10d headers): from LibTorch 2.0 the Gloo and NCCL process groups derive from c10d::Backend
// rather than c10d::ProcessGroup; both offer the allreduce/broadcast/barrier calls we use.
#ifdef FRATMAE_COMPAT_C10D
namespace fratmae::compat {
#if TORCH_VERSION_MAJOR >= 2
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif
}  // namespace fratmae::compat
#endif
