#include "model/attention.h"

#include "core/gemm.h"
#include "core/torch_compat.h"

namespace fratmae::model {

namespace nn = torch::nn;

namespace {
// A Linear layer's product through gemm::linear (oneDNN on LibTorch's generic BLAS).
torch::Tensor lin(const nn::Linear& l, const torch::Tensor& x) { return gemm::linear(x, l->weight, l->bias); }
}  // namespace

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads_) : heads(heads_) {
  q_proj = register_module("q_proj", nn::Linear(dim, dim));
  kv_proj = register_module("kv_proj", nn::Linear(dim, 2 * dim));
  proj = register_module("proj", nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& ctx) {
  const int64_t B = x.size(0), Tq = x.size(1), C = x.size(2), Tk = ctx.size(1), hd = C / heads;
  const auto q = lin(q_proj, x).view({B, Tq, heads, hd}).transpose(1, 2);                    // (B, h, Tq, hd)
  const auto kv = lin(kv_proj, ctx).view({B, Tk, 2, heads, hd}).permute({2, 0, 3, 1, 4});     // (2, B, h, Tk, hd)
  const auto out = compat::scaled_dot_product_attention(q, kv[0], kv[1]);                    // (B, h, Tq, hd)
  return lin(proj, out.transpose(1, 2).reshape({B, Tq, C}));                                 // (B, Tq, C)
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", nn::Linear(dim, hidden));
  fc2 = register_module("fc2", nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return lin(fc2, torch::gelu(lin(fc1, x))); }

BlockImpl::BlockImpl(int64_t dim, int64_t heads, double mlp_ratio) {
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  attn = register_module("attn", Attention(dim, heads));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  mlp = register_module("mlp", Mlp(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  const auto h = norm1->forward(x);
  auto y = x + attn->forward(h, h);
  return y + mlp->forward(norm2->forward(y));
}

CrossBlockImpl::CrossBlockImpl(int64_t dim, int64_t heads, double mlp_ratio) {
  auto ln = [&](const char* name) {
    return register_module(name, nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  };
  norm1 = ln("norm1");
  self_attn = register_module("self_attn", Attention(dim, heads));
  norm_q = ln("norm_q");
  norm_kv = ln("norm_kv");
  cross_attn = register_module("cross_attn", Attention(dim, heads));
  norm2 = ln("norm2");
  mlp = register_module("mlp", Mlp(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

torch::Tensor CrossBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const auto h = norm1->forward(x);
  auto y = x + self_attn->forward(h, h);                                                   // (B, T, C)
  y = y + cross_attn->forward(norm_q->forward(y), norm_kv->forward(context));             // queries from S
  return y + mlp->forward(norm2->forward(y));
}

void init_transformer_weights(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& mod : m.modules(/*include_self=*/false)) {
    if (auto* lin = mod->as<nn::Linear>()) {
      nn::init::xavier_uniform_(lin->weight);
      if (lin->bias.defined()) nn::init::zeros_(lin->bias);
    } else if (auto* ln = mod->as<nn::LayerNorm>()) {
      nn::init::ones_(ln->weight);
      nn::init::zeros_(ln->bias);
    }
  }
}

}  // namespace fratmae::model
