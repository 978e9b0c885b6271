#include "eval/components.h"

#include <array>

#include "core/error.h"

namespace fratmae::eval {

namespace {

// Neighbour offsets that come earlier in raster order (for one union-find pass), filtered by
// connectivity: |dz| + |dy| + |dx| <= 1 (6), <= 2 (18), <= 3 (26).
std::vector<std::array<int64_t, 3>> backward_offsets(int connectivity) {
  const int max_l1 = connectivity == 6 ? 1 : connectivity == 18 ? 2 : 3;
  std::vector<std::array<int64_t, 3>> out;
  for (int64_t a = -1; a <= 0; ++a)
    for (int64_t b = -1; b <= 1; ++b)
      for (int64_t c = -1; c <= 1; ++c) {
        if (a == 0 && (b > 0 || (b == 0 && c >= 0))) continue;  // only earlier voxels
        if (std::abs(a) + std::abs(b) + std::abs(c) > max_l1) continue;
        out.push_back({a, b, c});
      }
  return out;
}

int32_t find_root(std::vector<int32_t>& parent, int32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

}  // namespace

Components label_components(const at::Tensor& mask_in, int connectivity) {
  if (mask_in.dim() != 3) throw Error("connected components: the mask must be 3-D, got " + std::to_string(mask_in.dim()) + "-D");
  if (connectivity != 6 && connectivity != 18 && connectivity != 26)
    throw Error("connected components: connectivity must be 6, 18 or 26, got " + std::to_string(connectivity));
  const at::Tensor mask = mask_in.ne(0).to(at::kCPU, at::kByte).contiguous();
  const int64_t n0 = mask.size(0), n1 = mask.size(1), n2 = mask.size(2);
  const uint8_t* m = mask.data_ptr<uint8_t>();
  at::Tensor labels = at::zeros({n0, n1, n2}, at::kInt);
  int32_t* lab = labels.data_ptr<int32_t>();
  const auto offsets = backward_offsets(connectivity);

  // Pass 1: provisional labels, equivalences in a union-find forest.
  std::vector<int32_t> parent{0};
  for (int64_t a = 0; a < n0; ++a)
    for (int64_t b = 0; b < n1; ++b)
      for (int64_t c = 0; c < n2; ++c) {
        const int64_t i = (a * n1 + b) * n2 + c;
        if (!m[i]) continue;
        int32_t best = 0;
        for (const auto& o : offsets) {
          const int64_t aa = a + o[0], bb = b + o[1], cc = c + o[2];
          if (aa < 0 || bb < 0 || bb >= n1 || cc < 0 || cc >= n2) continue;
          const int32_t l = lab[(aa * n1 + bb) * n2 + cc];
          if (l == 0) continue;
          const int32_t r = find_root(parent, l);
          if (best == 0) {
            best = r;
          } else if (r != best) {
            // Union: the smaller root wins, so roots stay in raster order of first voxels.
            if (r < best) {
              parent[best] = r;
              best = r;
            } else {
              parent[r] = best;
            }
          }
        }
        if (best == 0) {
          best = static_cast<int32_t>(parent.size());
          parent.push_back(best);
        }
        lab[i] = best;
      }

  // Pass 2: compact numbering 1..count in order of roots (= raster order of first voxels).
  std::vector<int32_t> final_label(parent.size(), 0);
  Components out;
  for (size_t l = 1; l < parent.size(); ++l) {
    const int32_t r = find_root(parent, static_cast<int32_t>(l));
    if (final_label[r] == 0) final_label[r] = static_cast<int32_t>(++out.count);
    final_label[l] = final_label[r];
  }
  out.sizes.assign(static_cast<size_t>(out.count), 0);
  const int64_t n = n0 * n1 * n2;
  for (int64_t i = 0; i < n; ++i)
    if (lab[i]) {
      lab[i] = final_label[lab[i]];
      ++out.sizes[static_cast<size_t>(lab[i] - 1)];
    }
  out.labels = labels;
  return out;
}

}  // namespace fratmae::eval
