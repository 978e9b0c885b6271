#include "eval/lesion_stats.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "eval/components.h"

namespace fratmae::eval {

namespace {
constexpr double kPeakRadiusMm = 6.2035;  // sphere of 1 mL: (3 / (4 pi))^(1/3) cm
}  // namespace

LesionSummary lesion_statistics(const Volume& mask, const Volume& suv_vol, int connectivity) {
  mask.check("lesion mask");
  suv_vol.check("SUV image");
  if (!mask.geom.same_grid(suv_vol.geom))
    throw Error("lesion statistics: the mask and the SUV image lie on different grids (mask " +
                mask.geom.to_string() + ", SUV " + suv_vol.geom.to_string() + ")");
  const Geometry& g = mask.geom;
  const Components comp = label_components(mask.data, connectivity);
  // float32 (no copy for a float image); sums are accumulated in double.
  const at::Tensor suv_t = suv_vol.data.to(at::kCPU, at::kFloat).contiguous();
  const float* suv = suv_t.data_ptr<float>();
  const int32_t* lab = comp.labels.data_ptr<int32_t>();
  const int64_t nk = g.size[2], nj = g.size[1], ni = g.size[0];
  const double voxel_ml = g.voxel_volume_mm3() / 1000.0;

  // The SUVpeak sphere as a (2rk+1, 2rj+1, 2ri+1) kernel of ones, from the spacing.
  const auto reach = [&](int a) { return static_cast<int64_t>(std::floor(kPeakRadiusMm / g.spacing[a])); };
  const int64_t rk = reach(2), rj = reach(1), ri = reach(0);
  at::Tensor ball = at::zeros({1, 1, 2 * rk + 1, 2 * rj + 1, 2 * ri + 1}, at::kDouble);
  for (int64_t dk = -rk; dk <= rk; ++dk)
    for (int64_t dj = -rj; dj <= rj; ++dj)
      for (int64_t di = -ri; di <= ri; ++di) {
        const double d2 = std::pow(di * g.spacing[0], 2) + std::pow(dj * g.spacing[1], 2) + std::pow(dk * g.spacing[2], 2);
        if (d2 <= kPeakRadiusMm * kPeakRadiusMm) ball[0][0][dk + rk][dj + rj][di + ri] = 1.0;
      }

  struct Acc {
    int64_t n = 0;
    double sum = 0, max = -1e300, sk = 0, sj = 0, si = 0;
    std::array<int64_t, 3> lo{INT64_MAX, INT64_MAX, INT64_MAX}, hi{-1, -1, -1};  // (k, j, i) bounding box
  };
  std::vector<Acc> acc(static_cast<size_t>(comp.count));
  for (int64_t k = 0; k < nk; ++k)
    for (int64_t j = 0; j < nj; ++j)
      for (int64_t i = 0; i < ni; ++i) {
        const int64_t f = (k * nj + j) * ni + i;
        if (!lab[f]) continue;
        Acc& a = acc[static_cast<size_t>(lab[f] - 1)];
        ++a.n;
        const double v = suv[f];
        a.sum += v;
        a.max = std::max(a.max, v);
        a.sk += static_cast<double>(k), a.sj += static_cast<double>(j), a.si += static_cast<double>(i);
        a.lo = {std::min(a.lo[0], k), std::min(a.lo[1], j), std::min(a.lo[2], i)};
        a.hi = {std::max(a.hi[0], k), std::max(a.hi[1], j), std::max(a.hi[2], i)};
      }

  LesionSummary out;
  for (int64_t c = 0; c < comp.count; ++c) {
    Acc& a = acc[static_cast<size_t>(c)];
    Lesion l;
    l.label = c + 1;
    l.voxels = a.n;
    l.volume_ml = static_cast<double>(a.n) * voxel_ml;
    l.suv_max = a.max;
    l.suv_mean = a.sum / static_cast<double>(a.n);
    l.tlg = l.suv_mean * l.volume_ml;
    l.centroid_index = {a.si / a.n, a.sj / a.n, a.sk / a.n};
    l.centroid_lps = g.index_to_physical(l.centroid_index);
    // Sphere means at every voxel of the lesion's bounding box: sum of SUV over the sphere
    // divided by the number of sphere voxels inside the image (a convolution each).
    const std::array<int64_t, 3> r{rk, rj, ri}, n{nk, nj, ni};
    // Reserved: growing a vector moves its TensorIndex elements, and LibTorch 1.13's move reads
    // an uninitialised bool member (UBSan: "load of value 190 ... for type 'bool'").
    std::vector<at::indexing::TensorIndex> region;
    region.reserve(3);
    std::array<int64_t, 3> pad_lo{}, pad_hi{};
    for (int d = 0; d < 3; ++d) {
      const int64_t lo = a.lo[d] - r[d], hi = a.hi[d] + r[d] + 1;  // wanted range [lo, hi)
      region.emplace_back(at::indexing::Slice(std::max<int64_t>(lo, 0), std::min(hi, n[d])));
      pad_lo[d] = std::max<int64_t>(0, -lo);
      pad_hi[d] = std::max<int64_t>(0, hi - n[d]);
    }
    at::Tensor box = suv_t.index(region).to(at::kDouble);
    at::Tensor inside = at::ones_like(box);
    const std::vector<int64_t> pads{pad_lo[2], pad_hi[2], pad_lo[1], pad_hi[1], pad_lo[0], pad_hi[0]};
    box = at::constant_pad_nd(box, pads, 0.0).unsqueeze(0).unsqueeze(0);
    inside = at::constant_pad_nd(inside, pads, 0.0).unsqueeze(0).unsqueeze(0);
    const at::Tensor means = (at::conv3d(box, ball) / at::conv3d(inside, ball)).squeeze(0).squeeze(0);  // bbox shape
    const at::Tensor in_lesion = comp.labels.slice(0, a.lo[0], a.hi[0] + 1).slice(1, a.lo[1], a.hi[1] + 1)
                                     .slice(2, a.lo[2], a.hi[2] + 1).eq(static_cast<int32_t>(c + 1));
    const double peak = means.masked_select(in_lesion).max().item<double>();
    l.suv_peak = peak;
    out.mtv_ml += l.volume_ml;
    out.tlg += l.tlg;
    out.lesions.push_back(l);
  }
  std::stable_sort(out.lesions.begin(), out.lesions.end(),
                   [](const Lesion& x, const Lesion& y) { return x.voxels > y.voxels; });
  return out;
}

nlohmann::json LesionSummary::to_json() const {
  nlohmann::json ls = nlohmann::json::array();
  int64_t n = 0;
  for (const Lesion& l : lesions)
    ls.push_back({{"lesion", ++n},
                  {"voxels", l.voxels},
                  {"volume_ml", l.volume_ml},
                  {"suv_max", l.suv_max},
                  {"suv_mean", l.suv_mean},
                  {"suv_peak", l.suv_peak},
                  {"tlg", l.tlg},
                  {"centroid_lps_mm", l.centroid_lps},
                  {"centroid_index_ijk", l.centroid_index}});
  return {{"count", count()},
          {"mtv_ml", mtv_ml},
          {"tlg", tlg},
          {"definitions",
           {{"lesion", "18-connected component of the mask"},
            {"suv_peak", "highest mean SUV of a 1 mL sphere centred on a lesion voxel (PERCIST)"},
            {"tlg", "SUVmean x volume (mL)"},
            {"mtv_ml", "sum of lesion volumes"}}},
          {"lesions", ls}};
}

}  // namespace fratmae::eval
