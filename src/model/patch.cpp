#include "model/patch.h"

#include "core/error.h"

namespace fratmae::model {

torch::Tensor patchify(const torch::Tensor& x, int64_t p) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), D = x.size(4);
  if (H % p || W % p || D % p) throw Error("patchify: input size is not a multiple of the patch size");
  const int64_t h = H / p, w = W / p, d = D / p;
  return x.reshape({B, C, h, p, w, p, d, p})
      .permute({0, 2, 4, 6, 3, 5, 7, 1})  // (B, h, w, d, ph, pw, pd, C)
      .reshape({B, h * w * d, p * p * p * C});
}

torch::Tensor unpatchify(const torch::Tensor& t, int64_t p, std::array<int64_t, 3> g, int64_t C) {
  const int64_t B = t.size(0);
  return t.reshape({B, g[0], g[1], g[2], p, p, p, C})
      .permute({0, 7, 1, 4, 2, 5, 3, 6})  // (B, C, h, ph, w, pw, d, pd)
      .reshape({B, C, g[0] * p, g[1] * p, g[2] * p});
}

namespace {
// MAE's 1D sine-cosine embedding: (n, dim) for positions 0..n-1, dim even.
torch::Tensor sincos_1d(int64_t n, int64_t dim) {
  const auto omega = 1.0 / torch::pow(10000.0, torch::arange(dim / 2, torch::kDouble) / (dim / 2.0));  // (dim/2)
  const auto out = torch::outer(torch::arange(n, torch::kDouble), omega);                              // (n, dim/2)
  return torch::cat({out.sin(), out.cos()}, 1).to(torch::kFloat);                                      // (n, dim)
}
}  // namespace

torch::Tensor sincos_pos_embed_3d(std::array<int64_t, 3> g, int64_t dim) {
  if (dim % 2) throw Error("position embedding: dim must be even");
  int64_t part = (dim / 3) / 2 * 2;
  const int64_t parts[3] = {part, part, dim - 2 * part};
  const auto eh = sincos_1d(g[0], parts[0]).view({g[0], 1, 1, -1}).expand({g[0], g[1], g[2], parts[0]});
  const auto ew = sincos_1d(g[1], parts[1]).view({1, g[1], 1, -1}).expand({g[0], g[1], g[2], parts[1]});
  const auto ed = sincos_1d(g[2], parts[2]).view({1, 1, g[2], -1}).expand({g[0], g[1], g[2], parts[2]});
  return torch::cat({eh, ew, ed}, 3).reshape({g[0] * g[1] * g[2], dim});  // (L, dim)
}

PatchEmbed3dImpl::PatchEmbed3dImpl(int64_t in_chans, int64_t dim, int64_t patch) {
  proj = register_module("proj", torch::nn::Conv3d(torch::nn::Conv3dOptions(in_chans, dim, patch).stride(patch)));
  // MAE: initialise like a linear layer (xavier uniform on the flattened kernel).
  torch::NoGradGuard ng;
  auto w = proj->weight.view({dim, -1});
  torch::nn::init::xavier_uniform_(w);
  torch::nn::init::zeros_(proj->bias);
}

torch::Tensor PatchEmbed3dImpl::forward(const torch::Tensor& x) {
  return proj->forward(x).flatten(2).transpose(1, 2);  // (B, dim, h, w, d) -> (B, L, dim)
}

}  // namespace fratmae::model
