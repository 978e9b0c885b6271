#include "viz/mip.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace fratmae::viz {

namespace {
// [W, D] projection -> display [rows = D', cols = W'] float in 0..1 at mm_per_pixel.
at::Tensor to_display(const at::Tensor& proj, std::array<double, 2> sp, double mm, bool nearest) {
  const int64_t cols = std::max<int64_t>(1, std::llround(proj.size(0) * sp[0] / mm));
  const int64_t rows = std::max<int64_t>(1, std::llround(proj.size(1) * sp[1] / mm));
  at::Tensor img = proj.t().contiguous().view({1, 1, proj.size(1), proj.size(0)}).to(at::kFloat).cpu();
  img = nearest ? at::upsample_nearest2d(img, {rows, cols})
                : at::upsample_bilinear2d(img, {rows, cols}, /*align_corners=*/false);
  return img.view({rows, cols});
}

at::Tensor grey(const at::Tensor& v01) {  // [r, c] in 0..1 -> uint8 [r, c, 3]
  return (v01.clamp(0, 1) * 255).round().to(at::kByte).unsqueeze(2).expand({-1, -1, 3}).contiguous();
}
}  // namespace

at::Tensor render_mip(const at::Tensor& suv, const at::Tensor& ct, const at::Tensor& mask,
                      std::array<double, 2> sp, const MipOptions& opt) {
  const at::Tensor pet_proj = std::get<0>(suv.max(0));  // [W, D]
  const at::Tensor pet = to_display(pet_proj, sp, opt.mm_per_pixel, false);
  at::Tensor pet_rgb = grey(1.0 - pet / opt.suv_max);  // black = hot
  if (mask.defined() && mask.any().item<bool>()) {
    const at::Tensor m = to_display(std::get<0>(mask.to(at::kFloat).max(0)), sp, opt.mm_per_pixel, true) > 0.5;
    // Outline drawn just outside each lesion (a 2-pixel ring) so its uptake stays visible.
    const at::Tensor mf = m.to(at::kFloat).view({1, 1, m.size(0), m.size(1)});
    const at::Tensor grown = at::max_pool2d(mf, {5, 5}, {1, 1}, {2, 2}).view({m.size(0), m.size(1)}) > 0.5;
    const at::Tensor edge = grown & ~m;
    const at::Tensor red = at::tensor(std::vector<uint8_t>{220, 30, 30}, at::kByte);
    pet_rgb.index_put_({edge}, red);
  }
  std::vector<at::Tensor> panels{pet_rgb};
  if (ct.defined()) {
    const at::Tensor ct_proj = std::get<0>(ct.max(0));
    const at::Tensor c = to_display(ct_proj, sp, opt.mm_per_pixel, false);
    const at::Tensor gap = at::full({pet_rgb.size(0), 8, 3}, 255, at::kByte);
    panels.push_back(gap);
    panels.push_back(grey((c - opt.ct_min) / (opt.ct_max - opt.ct_min)));
  }
  return at::cat(panels, 1);
}

}  // namespace fratmae::viz
