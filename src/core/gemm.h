// Matrix products of the model (Linear layers, attention) with a faster CPU path where
// LibTorch's own is slow.
//
// Debian's LibTorch 1.13 is built against the generic reference BLAS (netlib, one thread,
// ~1.5 GFLOP/s here): with it, float32 matrix products are 60-90% of a CPU training step.
// The same LibTorch ships oneDNN (libdnnl, a JIT-compiled, multi-threaded GEMM) for its
// convolutions. With the "onednn" backend, gemm::linear and gemm::matmul compute CPU float32
// products with libdnnl's dnnl_sgemm (forward and backward, through an autograd function);
// with "libtorch", and everywhere the oneDNN path does not apply (CUDA, other dtypes, CPU
// autocast), they are exactly at::linear and at::matmul.
//
// The library's default is "libtorch" (results bit-identical to LibTorch's own ops); a program
// opts in with set_backend("auto"): oneDNN where LibTorch's BLAS is the generic one and
// dnnl_sgemm is found in the process, LibTorch's GEMM otherwise (MKL/OpenBLAS builds, CUDA
// builds). FRATMAE_GEMM=libtorch|onednn|auto in the environment overrides both.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace fratmae::gemm {

/// "onednn" when CPU float32 products go through dnnl_sgemm, else "libtorch".
const char* backend();

/// Choose "libtorch", "onednn" or "auto" (see above); ignored when FRATMAE_GEMM is set.
/// Returns backend(). Throws fratmae::Error for another name, or "onednn" without libdnnl.
const char* set_backend(const std::string& name);

/// x (..., K) @ w(N, K)^T + b (N) -> (..., N), as at::linear.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});

/// a (..., M, K) @ b (..., K, N) -> (..., M, N) with the same batch dims on both sides (either
/// may be a transposed view: no copy is made for it); other shapes go to at::matmul.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);

}  // namespace fratmae::gemm
