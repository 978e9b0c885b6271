#include "infer/sliding_window.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/progress.h"

namespace fratmae::infer {

using at::indexing::Slice;

void SlidingWindowConfig::validate() const {
  for (int64_t w : window)
    if (w <= 0) throw Error("sliding window: window sizes must be positive");
  if (!(overlap >= 0 && overlap < 1)) throw Error("sliding window: overlap must lie in [0, 1)");
  if (batch < 1) throw Error("sliding window: batch must be at least 1");
  if (!(sigma_scale > 0)) throw Error("sliding window: sigma_scale must be positive");
  if (!(threshold > 0 && threshold < 1)) throw Error("sliding window: threshold must lie in (0, 1)");
}

std::vector<int64_t> window_starts(int64_t length, int64_t window, double overlap) {
  if (length <= window) return {0};
  const double step = std::max(1.0, std::floor(static_cast<double>(window) * (1.0 - overlap)));
  const int64_t n = static_cast<int64_t>(std::ceil(static_cast<double>(length - window) / step)) + 1;
  std::vector<int64_t> s;
  const double actual = static_cast<double>(length - window) / static_cast<double>(n - 1);
  for (int64_t i = 0; i < n; ++i) s.push_back(static_cast<int64_t>(std::llround(actual * static_cast<double>(i))));
  return s;
}

at::Tensor gaussian_importance(const std::array<int64_t, 3>& window, double sigma_scale) {
  at::Tensor g;
  for (int a = 0; a < 3; ++a) {
    const double c = (static_cast<double>(window[a]) - 1.0) / 2.0, sigma = sigma_scale * static_cast<double>(window[a]);
    const at::Tensor x = at::arange(window[a], at::kDouble);
    at::Tensor g1 = at::exp(-(x - c).pow(2) / (2 * sigma * sigma));
    std::vector<int64_t> shape{1, 1, 1};
    shape[static_cast<size_t>(a)] = window[a];
    g1 = g1.reshape(shape);
    g = g.defined() ? g * g1 : g1;
  }
  g = g / g.max();
  // A floor keeps every voxel's weight positive (border voxels of a single window).
  const double floor_value = std::max(1e-3, g.min().item<double>());
  return g.clamp_min(floor_value).to(at::kFloat).contiguous();
}

int64_t count_windows(const std::array<int64_t, 3>& shape, const SlidingWindowConfig& cfg) {
  int64_t n = 1;
  for (int a = 0; a < 3; ++a) n *= static_cast<int64_t>(window_starts(shape[a], cfg.window[a], cfg.overlap).size());
  return n;
}

std::array<std::array<int64_t, 2>, 3> body_box(const at::Tensor& ct, double level) {
  if (ct.dim() != 3) throw Error("body box: the CT must be a 3-D volume");
  const at::Tensor inside = ct.gt(level);
  std::array<std::array<int64_t, 2>, 3> box{};
  for (int a = 0; a < 3; ++a) {
    std::vector<int64_t> others;
    for (int b = 0; b < 3; ++b)
      if (b != a) others.push_back(b);
    const at::Tensor any = inside.any(others[1]).any(others[0]).to(at::kCPU);  // (L_a) bool
    const at::Tensor idx = any.nonzero();
    if (idx.numel() == 0) return {};
    box[static_cast<size_t>(a)] = {idx.min().item<int64_t>(), idx.max().item<int64_t>() + 1};
  }
  return box;
}

int64_t count_windows(const at::Tensor& ct, const SlidingWindowConfig& cfg) {
  if (!cfg.body_only) return count_windows({ct.size(0), ct.size(1), ct.size(2)}, cfg);
  const auto b = body_box(ct, cfg.body_level);
  if (b[0][1] <= b[0][0]) return 0;
  return count_windows({b[0][1] - b[0][0], b[1][1] - b[1][0], b[2][1] - b[2][0]}, cfg);
}

SlidingWindowResult sliding_window(const at::Tensor& ct_in, const at::Tensor& pet_in, const WindowPredictor& predict,
                                   const SlidingWindowConfig& cfg, Progress* progress) {
  cfg.validate();
  if (ct_in.dim() != 3 || ct_in.sizes() != pet_in.sizes())
    throw Error("sliding window: CT and PET must be 3-D volumes of the same shape");
  if (cfg.body_only) {  // windows over the body's box; the air around it is background
    const auto b = body_box(ct_in, cfg.body_level);
    SlidingWindowResult r;
    r.mask = at::zeros(ct_in.sizes(), at::kByte);
    if (cfg.keep_probability) r.probability = at::zeros(ct_in.sizes(), at::kFloat);
    if (b[0][1] <= b[0][0]) return r;  // no body at all
    auto box = [&](const at::Tensor& v) {
      return v.slice(0, b[0][0], b[0][1]).slice(1, b[1][0], b[1][1]).slice(2, b[2][0], b[2][1]);
    };
    SlidingWindowConfig inner = cfg;
    inner.body_only = false;
    const SlidingWindowResult in = sliding_window(box(ct_in), box(pet_in), predict, inner, progress);
    box(r.mask).copy_(in.mask);
    if (cfg.keep_probability) box(r.probability).copy_(in.probability);
    r.windows = in.windows;
    return r;
  }
  const std::array<int64_t, 3> shape{ct_in.size(0), ct_in.size(1), ct_in.size(2)};
  const auto& win = cfg.window;
  // Pad axes shorter than the window (at the end), crop the result back at the end.
  std::array<int64_t, 3> padded = shape;
  for (int a = 0; a < 3; ++a) padded[a] = std::max(shape[a], win[a]);
  at::Tensor ct = ct_in.to(at::kFloat), pet = pet_in.to(at::kFloat);
  if (padded != shape) {
    at::Tensor c = at::full({padded[0], padded[1], padded[2]}, -1.0, ct.options());
    at::Tensor p = at::zeros({padded[0], padded[1], padded[2]}, pet.options());
    c.index_put_({Slice(0, shape[0]), Slice(0, shape[1]), Slice(0, shape[2])}, ct);
    p.index_put_({Slice(0, shape[0]), Slice(0, shape[1]), Slice(0, shape[2])}, pet);
    ct = c, pet = p;
  }
  const auto hs = window_starts(padded[0], win[0], cfg.overlap), ws = window_starts(padded[1], win[1], cfg.overlap),
             ds = window_starts(padded[2], win[2], cfg.overlap);
  const at::Tensor gauss = gaussian_importance(win, cfg.sigma_scale);  // (h, w, d) CPU float

  // Windows in (d, h, w) order, batched across slab boundaries so that every forward pass but
  // the last holds `batch` windows. A pass of one window is given a copy of it (whose
  // prediction is dropped): LibTorch runs a batch-of-one 3-D convolution with few channels on
  // its slow native kernel instead of oneDNN's (10x slower at the decoder's sizes on the CPU).
  std::vector<std::array<int64_t, 3>> origins;
  for (const int64_t d0 : ds)
    for (int64_t h0 : hs)
      for (int64_t w0 : ws) origins.push_back({h0, w0, d0});
  const size_t per_pass = static_cast<size_t>(cfg.batch);
  // Rolling accumulators over D slices [base, base + depth): deep enough for the windows of the
  // batch that spans the most slabs.
  int64_t depth = win[2];
  for (size_t b0 = 0; b0 < origins.size(); b0 += per_pass) {
    const size_t b1 = std::min(origins.size(), b0 + per_pass) - 1;
    depth = std::max(depth, origins[b1][2] - origins[b0][2] + win[2]);
  }

  SlidingWindowResult r;
  r.mask = at::zeros({padded[0], padded[1], padded[2]}, at::kByte);
  if (cfg.keep_probability) r.probability = at::zeros({padded[0], padded[1], padded[2]}, at::kFloat);
  at::Tensor acc = at::zeros({padded[0], padded[1], depth}, at::kFloat);
  at::Tensor wsum = at::zeros_like(acc);
  int64_t base = 0;
  auto finalize = [&](int64_t upto) {  // D slices [base, upto) are complete
    if (upto <= base) return;
    const int64_t n = upto - base;
    const at::Tensor prob = acc.narrow(2, 0, n) / wsum.narrow(2, 0, n).clamp_min(1e-12);
    r.mask.narrow(2, base, n).copy_(prob.gt(cfg.threshold));
    if (cfg.keep_probability) r.probability.narrow(2, base, n).copy_(prob);
    // Roll the buffers: what was at [upto, base + depth) moves to the front.
    acc = at::cat({acc.narrow(2, n, depth - n), at::zeros({padded[0], padded[1], n}, at::kFloat)}, 2);
    wsum = at::cat({wsum.narrow(2, n, depth - n), at::zeros({padded[0], padded[1], n}, at::kFloat)}, 2);
    base = upto;
  };

  c10::AutoGradMode no_grad(false);
  auto cut = [&](const at::Tensor& v, const std::array<int64_t, 3>& o) {
    return v.slice(0, o[0], o[0] + win[0]).slice(1, o[1], o[1] + win[1]).slice(2, o[2], o[2] + win[2]);
  };
  for (size_t b0 = 0; b0 < origins.size(); b0 += per_pass) {
    const size_t b1 = std::min(origins.size(), b0 + per_pass);
    finalize(origins[b0][2]);  // nothing before this batch's first window is touched again
    std::vector<at::Tensor> cts, pets;
    const size_t n_pass = std::max(b1 - b0, std::min<size_t>(2, per_pass));  // never one window alone
    for (size_t b = b0; b < b0 + n_pass; ++b) {  // a lone last window gets a copy beside it
      const auto& o = origins[std::min(b, b1 - 1)];
      cts.push_back(cut(ct, o));
      pets.push_back(cut(pet, o));
    }
    const at::Tensor cb = at::stack(cts).unsqueeze(1), pb = at::stack(pets).unsqueeze(1);  // (N, 1, h, w, d)
    at::Tensor prob = predict(cb, pb).to(at::kFloat);                                       // (N, h, w, d)
    r.windows += static_cast<int64_t>(b1 - b0);
    if (cfg.flip_tta) {
      prob = prob + predict(cb.flip({3}), pb.flip({3})).to(at::kFloat).flip({2});
      prob = prob * 0.5;
      r.windows += static_cast<int64_t>(b1 - b0);
    }
    prob = prob.to(at::kCPU);
    for (size_t b = b0; b < b1; ++b) {
      const auto& o = origins[b];
      const std::array<int64_t, 3> local{o[0], o[1], o[2] - base};
      cut(acc, local).add_(prob[static_cast<int64_t>(b - b0)] * gauss);
      cut(wsum, local).add_(gauss);
    }
    if (progress) progress->advance(static_cast<int64_t>(b1 - b0));
  }
  finalize(padded[2]);
  if (padded != shape) {
    r.mask = r.mask.slice(0, 0, shape[0]).slice(1, 0, shape[1]).slice(2, 0, shape[2]).contiguous();
    if (r.probability.defined())
      r.probability = r.probability.slice(0, 0, shape[0]).slice(1, 0, shape[1]).slice(2, 0, shape[2]).contiguous();
  }
  return r;
}

}  // namespace fratmae::infer
