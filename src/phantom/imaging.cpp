#include "phantom/imaging.h"

#include <cmath>

#include "phantom/tissue.h"

namespace fratmae::phantom {

namespace {
at::Tensor randn_like_on(const at::Tensor& like, at::Generator& gen) {
  // Drawn on the CPU from the case's generator (same bytes on every device), then moved.
  return at::randn(like.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(like.device());
}

at::Tensor blur_axis(const at::Tensor& v, int axis, double sigma_vox) {
  if (sigma_vox < 0.3) return v;
  const int64_t r = static_cast<int64_t>(std::ceil(3.0 * sigma_vox));
  const int64_t n = v.size(axis);
  std::vector<double> w(2 * r + 1);
  double sum = 0;
  for (int64_t i = -r; i <= r; ++i) sum += w[i + r] = std::exp(-0.5 * (i * i) / (sigma_vox * sigma_vox));
  // Replicate-pad along `axis`, then a weighted sum of shifted views.
  const at::Tensor first = v.narrow(axis, 0, 1), last = v.narrow(axis, n - 1, 1);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < r; ++i) parts.push_back(first);
  parts.push_back(v);
  for (int64_t i = 0; i < r; ++i) parts.push_back(last);
  const at::Tensor padded = at::cat(parts, axis);
  at::Tensor out = padded.narrow(axis, 0, n) * (w[0] / sum);
  for (int64_t i = 1; i <= 2 * r; ++i) out.add_(padded.narrow(axis, i, n), w[i] / sum);
  return out;
}
}  // namespace

at::Tensor gaussian_blur(const at::Tensor& v, const Grid& g, double sigma_mm) {
  at::Tensor out = v;
  for (int a = 0; a < 3; ++a) out = blur_axis(out, a, sigma_mm / g.spacing[a]);
  return out;
}

at::Tensor ct_from_labels(const at::Tensor& labels, const Grid& g, at::Generator& gen) {
  std::vector<float> hu(kNumTissues);
  for (int t = 0; t < kNumTissues; ++t) hu[t] = tissue_ct(static_cast<Tissue>(t)).hu;
  const at::Tensor table = at::tensor(hu, g.options());
  return table.index({labels.to(at::kLong)});
}

at::Tensor ct_noise(const at::Tensor& ct, const at::Tensor& labels, const Grid& g, at::Generator& gen) {
  std::vector<float> sd(kNumTissues);
  for (int t = 0; t < kNumTissues; ++t) sd[t] = tissue_ct(static_cast<Tissue>(t)).texture;
  const at::Tensor texture_sd = at::tensor(sd, g.options()).index({labels.to(at::kLong)});
  // Smooth texture (~3 mm grain), normalised to unit variance, scaled per tissue.
  at::Tensor tex = gaussian_blur(randn_like_on(ct, gen), g, 3.0);
  tex = tex / tex.std().clamp_min(1e-6);
  const at::Tensor scanner = randn_like_on(ct, gen) * 12.0;  // quantum noise, HU
  return (ct + tex * texture_sd + scanner).clamp(-1024.0, 3071.0);
}

std::pair<at::Tensor, at::Tensor> render_lesions(std::vector<Lesion>& lesions, const Painter& p,
                                                 const at::Tensor& labels, at::Tensor& activity,
                                                 at::Tensor& ct, at::Generator& gen) {
  at::Tensor instances = at::zeros_like(labels);
  for (size_t i = 0; i < lesions.size() && i < 255; ++i) {
    Lesion& l = lesions[i];
    const double rmax = std::max({l.radii.x, l.radii.y, l.radii.s});
    const double margin = 8.0;  // background shell, mm
    const Box b = p.box(l.centre, {rmax + margin, rmax + margin, rmax + margin});
    if (b.empty()) continue;
    at::Tensor m = p.rotated_ellipsoid(b, l.centre, l.radii, l.rotation);
    if (m.sum().item<int64_t>() == 0) {
      // Smaller than a voxel: the voxel containing its centre.
      m = at::zeros_like(m);
      const BoxCoords k = p.coords(b);
      const int64_t h = (k.y.view(-1) - l.centre.y).abs().argmin().item<int64_t>();
      const int64_t w = (k.x.view(-1) - l.centre.x).abs().argmin().item<int64_t>();
      const int64_t d = (k.s.view(-1) - l.centre.s).abs().argmin().item<int64_t>();
      m[h][w][d] = true;
    }
    const at::Tensor shell = p.rotated_ellipsoid(b, l.centre,
                                                 {l.radii.x + margin, l.radii.y + margin, l.radii.s + margin},
                                                 l.rotation) & ~m;
    at::Tensor act = Painter::view(activity, b);
    const double bg = shell.any().item<bool>() ? act.masked_select(shell).mean().item<double>() : 1.0;
    l.suv = std::max(bg, 0.5) * l.contrast;
    act.masked_fill_(m, l.suv);
    // CT: soft-tissue density, except bone lesions (sclerotic for prostate cancer, else lytic).
    at::Tensor c = Painter::view(ct, b);
    const at::Tensor lab = Painter::view(labels, b);
    const bool in_bone = l.site == Site::kBone;
    const double hu = in_bone ? (uniform(gen, 0, 1) < 0.5 ? 650.0 : 60.0)  // sclerotic or lytic
                              : l.site == Site::kLiver ? 40.0 : 42.0;
    c.masked_fill_(m & (lab != kAir), hu);
    Painter::view(instances, b).masked_fill_(m, static_cast<int64_t>(i + 1));
    l.voxels = static_cast<int>(m.sum().item<int64_t>());
  }
  return {(instances > 0).to(at::kByte), instances};
}

at::Tensor pet_acquire(const at::Tensor& activity, const Grid& g, const PetScanner& scanner,
                       at::Generator& gen) {
  const double sigma = scanner.fwhm_mm / (2.0 * std::sqrt(2.0 * std::log(2.0)));
  const at::Tensor blurred = gaussian_blur(activity, g, sigma);
  // Noise: smooth (reconstruction correlates it over ~a voxel), unit variance, scaled by
  // sqrt(activity) and by voxel size relative to (4 mm)^3.
  at::Tensor n = gaussian_blur(randn_like_on(activity, gen), g, 0.6 * sigma);
  n = n / n.std().clamp_min(1e-6);
  const double voxel_ml = g.spacing[0] * g.spacing[1] * g.spacing[2] / 64.0;
  const double k = scanner.noise_level / std::sqrt(voxel_ml);
  return (blurred + k * blurred.clamp_min(0).sqrt() * n).clamp_min(0.0);
}

}  // namespace fratmae::phantom
