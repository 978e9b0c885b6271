#include "core/gemm.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"

namespace fratmae::gemm {

namespace {

// oneDNN's C API (dnnl.h, stable since oneDNN 1.0): row-major C = alpha op(A) op(B) + beta C.
using SgemmFn = int (*)(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

SgemmFn find_dnnl() {
  static const SgemmFn f = [] {
    void* p = nullptr;
    if (void* h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_NOLOAD)) p = dlsym(h, "dnnl_sgemm");
    if (!p) p = dlsym(RTLD_DEFAULT, "dnnl_sgemm");
    return reinterpret_cast<SgemmFn>(p);
  }();
  return f;
}

SgemmFn choose(const std::string& name) {
  if (name == "libtorch") return nullptr;
  if (name == "onednn") {
    if (!find_dnnl()) throw Error("gemm backend 'onednn': dnnl_sgemm (libdnnl) is not loaded in this process");
    return find_dnnl();
  }
  if (name == "auto") {
    static const bool generic = at::show_config().find("BLAS_INFO=generic") != std::string::npos;
    return generic ? find_dnnl() : nullptr;
  }
  throw Error("unknown gemm backend '" + name + "' (libtorch, onednn, auto)");
}

const char* env_backend() {
  const char* env = std::getenv("FRATMAE_GEMM");
  return env && *env ? env : nullptr;
}

std::atomic<SgemmFn>& active() {
  static std::atomic<SgemmFn> f{env_backend() ? choose(env_backend()) : nullptr};
  return f;
}

SgemmFn sgemm() { return active().load(std::memory_order_relaxed); }

bool cpu_autocast() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

bool eligible(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.layout() == at::kStrided &&
         t.numel() > 0;
}

// How to hand the last two dims (R, C) of t to a row-major GEMM without a copy: 'N' with
// leading dimension ld (rows apart), or 'T' (t is the transpose of a row-major C x R matrix).
bool layout(const at::Tensor& t, char& trans, int64_t& ld) {
  const int64_t R = t.size(-2), C = t.size(-1), sr = t.stride(-2), sc = t.stride(-1);
  if ((sc == 1 || C == 1) && (R == 1 || sr >= C)) {
    trans = 'N';
    ld = R == 1 ? C : sr;
    return true;
  }
  if ((sr == 1 || R == 1) && (C == 1 || sc >= R)) {
    trans = 'T';
    ld = C == 1 ? R : sc;
    return true;
  }
  return false;
}

// Element offsets of every matrix of t's leading (batch) dims, in row-major batch order.
std::vector<int64_t> batch_offsets(const at::Tensor& t) {
  const int64_t nd = t.dim() - 2;
  int64_t n = 1;
  for (int64_t d = 0; d < nd; ++d) n *= t.size(d);
  std::vector<int64_t> off(static_cast<size_t>(n)), idx(static_cast<size_t>(nd), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t o = 0;
    for (int64_t d = 0; d < nd; ++d) o += idx[d] * t.stride(d);
    off[i] = o;
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.size(d)) break;
      idx[d] = 0;
    }
  }
  return off;
}

// a (..., M, K) @ b (..., K, N), equal batch dims, eligible tensors: a new contiguous result.
at::Tensor raw_matmul(at::Tensor a, at::Tensor b) {
  char ta = 'N', tb = 'N';
  int64_t lda = 0, ldb = 0;
  if (!layout(a, ta, lda)) {
    a = a.contiguous();
    layout(a, ta, lda);
  }
  if (!layout(b, tb, ldb)) {
    b = b.contiguous();
    layout(b, tb, ldb);
  }
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  std::vector<int64_t> shape(a.sizes().begin(), a.sizes().end() - 2);
  shape.push_back(M);
  shape.push_back(N);
  at::Tensor c = at::empty(shape, a.options().requires_grad(false));
  const auto oa = batch_offsets(a), ob = batch_offsets(b);
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  const SgemmFn f = sgemm();
  const auto one = [&](int64_t i) {
    const int st = f(ta, tb, M, N, K, 1.0f, pa + oa[i], lda, pb + ob[i], ldb, 0.0f, pc + i * M * N, N);
    TORCH_CHECK(st == 0, "dnnl_sgemm failed with status ", st);
  };
  const int64_t n = static_cast<int64_t>(oa.size());
  if (n == 1) {
    one(0);  // oneDNN parallelises inside
  } else {
    // Many small products (attention heads): one per thread; oneDNN then runs single-threaded.
    at::parallel_for(0, n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) one(i);
    });
  }
  return c;
}

struct MatmulFn : torch::autograd::Function<MatmulFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b) {
    ctx->save_for_backward({a, b});
    return raw_matmul(a, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &a = saved[0], &b = saved[1], &dc = grad[0];
    at::Tensor da, db;
    // Through matmul again, so a graph is built when the backward itself is differentiated.
    if (ctx->needs_input_grad(0)) da = gemm::matmul(dc, b.transpose(-2, -1));
    if (ctx->needs_input_grad(1)) db = gemm::matmul(a.transpose(-2, -1), dc);
    return {da, db};
  }
};

bool fast(const at::Tensor& a, const at::Tensor& b) {
  return sgemm() != nullptr && eligible(a) && eligible(b) && !cpu_autocast();
}

}  // namespace

const char* backend() { return sgemm() ? "onednn" : "libtorch"; }

const char* set_backend(const std::string& name) {
  if (!env_backend()) active().store(choose(name));
  return backend();
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  if (!fast(a, b) || a.dim() < 2 || a.dim() != b.dim() || a.size(-1) != b.size(-2) ||
      !std::equal(a.sizes().begin(), a.sizes().end() - 2, b.sizes().begin()))
    return at::matmul(a, b);
  return MatmulFn::apply(a, b);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!fast(x, w) || (b.defined() && !eligible(b)) || x.dim() < 1 || w.dim() != 2 || x.size(-1) != w.size(1))
    return at::linear(x, w, b);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.size(0);
  at::Tensor y = MatmulFn::apply(x.reshape({-1, x.size(-1)}), w.t());  // (M, N)
  if (b.defined()) y = y + b;
  return y.view(shape);
}

}  // namespace fratmae::gemm
