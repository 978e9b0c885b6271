#include "data/crops.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace fratmae::data {

void CropConfig::validate() const {
  if (kind != CropKind::kNative) {
    if (slices < 1) throw Error("crop: slices must be at least 1 (paper: 32)");
    if (stride < 1) throw Error("crop: stride k must be at least 1 (paper: 2)");
  } else {
    for (int64_t s : native_size)
      if (s < 1) throw Error("crop: the native crop size must be positive along H, W and D");
    if (lesion_prob < 0 || lesion_prob > 1) throw Error("crop: lesion_prob must be in [0, 1]");
  }
}

std::string CropConfig::to_string() const {
  std::ostringstream s;
  if (kind == CropKind::kNative)
    s << "native " << native_size[0] << "x" << native_size[1] << "x" << native_size[2]
      << (central ? ", central" : ", lesion_prob " + std::to_string(lesion_prob) + (lesion_centred ? ", centred" : ""));
  else
    s << (kind == CropKind::kCoronal ? "coronal" : "axial") << " stack of " << slices << " slices, every "
      << stride << (central ? ", central" : ", random");
  return s.str();
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) : gen_(mix_seed(seed, 0x5eed)) {}

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  // Multiply-shift (no modulo bias worth noting for ranges this small); portable, unlike
  // std::uniform_int_distribution whose output differs between standard libraries.
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(static_cast<unsigned __int128>(gen_()) * range >> 64);
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(gen_() >> 11) * 0x1.0p-53;
}

bool Rng::bernoulli(double p) { return uniform(0, 1) < p; }

std::array<int64_t, 3> crop_shape(const CropConfig& cfg, const std::array<int64_t, 3>& wb) {
  switch (cfg.kind) {
    case CropKind::kCoronal: return {cfg.slices, wb[1], wb[2]};
    case CropKind::kAxial: return {wb[0], wb[1], cfg.slices};
    case CropKind::kNative: return cfg.native_size;
  }
  return {0, 0, 0};
}

CropWindow choose_window(const CropConfig& cfg, const std::array<int64_t, 3>& shape,
                         const at::Tensor& lesion_voxels, Rng& rng) {
  CropWindow w;
  if (cfg.kind != CropKind::kNative) {
    const int a = cfg.kind == CropKind::kCoronal ? 0 : 2;  // the thin axis
    const int64_t span = cfg.stride * cfg.slices;
    if (shape[a] < span)
      throw Error("crop: a " + cfg.to_string() + " needs " + std::to_string(span) + " slices along " +
                  (a == 0 ? "H" : "D") + ", the volume has " + std::to_string(shape[a]) +
                  "; use fewer slices or a smaller stride");
    w.size = shape;
    w.size[a] = cfg.slices;
    w.step[a] = cfg.stride;
    w.start[a] = cfg.central ? (shape[a] - span) / 2 : rng.uniform_int(0, shape[a] - span);
    return w;
  }
  w.size = cfg.native_size;
  // Always draw the same numbers, so one choice does not shift the next sample's.
  const double u = rng.uniform(0, 1);
  const int64_t n = lesion_voxels.defined() ? lesion_voxels.size(0) : 0;
  const bool on_lesion = !cfg.central && n > 0 && u < cfg.lesion_prob;
  std::array<int64_t, 3> centre{0, 0, 0};
  if (on_lesion) {
    const at::Tensor v = lesion_voxels[rng.uniform_int(0, n - 1)].to(at::kLong).cpu();
    const int64_t* p = v.data_ptr<int64_t>();
    centre = {p[0], p[1], p[2]};
  }
  for (int a = 0; a < 3; ++a) {
    const int64_t size = cfg.native_size[a], dim = shape[a];
    if (dim <= size) {
      w.start[a] = -((size - dim) / 2);  // centred, padded on both sides
    } else if (cfg.central) {
      w.start[a] = (dim - size) / 2;
    } else if (on_lesion && cfg.lesion_centred) {
      w.start[a] = std::clamp<int64_t>(centre[a] - size / 2, 0, dim - size);
    } else if (on_lesion) {
      // The lesion voxel lands anywhere in the crop, not at its centre: the ViT encoders have
      // absolute position embeddings, and always-centred lesions teach them a prior "lesions
      // sit in the middle of a window", which sliding-window inference then paints into every
      // window (more of it the more the windows overlap).
      const int64_t lo = std::max<int64_t>(0, centre[a] - size + 1), hi = std::min<int64_t>(dim - size, centre[a]);
      w.start[a] = rng.uniform_int(lo, hi);
    } else {
      w.start[a] = rng.uniform_int(0, dim - size);
    }
  }
  return w;
}

void extract_window(const at::Tensor& src, const CropWindow& w, at::Tensor out, double scale, double pad,
                    double shift) {
  // Output indices j with 0 <= start + j * step < dim, per axis.
  at::Tensor s = src;  // (H, W, D)
  at::Tensor o = out;  // (h, w, d)
  bool padded = false;
  for (int a = 0; a < 3; ++a) {
    const int64_t dim = src.size(a), start = w.start[a], step = w.step[a], size = w.size[a];
    int64_t j0 = start < 0 ? (-start + step - 1) / step : 0;
    int64_t j1 = start > dim - 1 ? 0 : std::min<int64_t>(size, (dim - 1 - start) / step + 1);
    if (j1 <= j0) {
      out.fill_(pad);
      return;
    }
    padded = padded || j0 > 0 || j1 < size;
    s = s.slice(a, start + j0 * step, start + (j1 - 1) * step + 1, step);
    o = o.slice(a, j0, j1);
  }
  if (padded) out.fill_(pad);
  o.copy_(s);
  if (scale != 1.0) o.mul_(scale);
  if (shift != 0.0) o.add_(shift);
}

namespace {

template <typename S, typename T>
void affine_rows(const S* src, const std::array<int64_t, 3>& dims, const CropWindow& w, T* out, float a, float b,
                 T pad, bool flip_w) {
  const int64_t H = dims[0], W = dims[1], D = dims[2];
  const int64_t oh = w.size[0], ow = w.size[1], od = w.size[2];
  const int64_t d0 = w.start[2], sd = w.step[2];
  // Output d indices jd0 <= jd < jd1 read inside the volume.
  const int64_t jd0 = d0 < 0 ? std::min<int64_t>(od, (-d0 + sd - 1) / sd) : 0;
  const int64_t jd1 = d0 > D - 1 ? jd0 : std::max<int64_t>(jd0, std::min<int64_t>(od, (D - 1 - d0) / sd + 1));
  for (int64_t jh = 0; jh < oh; ++jh) {
    const int64_t h = w.start[0] + jh * w.step[0];
    for (int64_t jw = 0; jw < ow; ++jw) {
      const int64_t x = w.start[1] + jw * w.step[1];
      T* o = out + (jh * ow + (flip_w ? ow - 1 - jw : jw)) * od;
      if (h < 0 || h >= H || x < 0 || x >= W) {
        std::fill(o, o + od, pad);
        continue;
      }
      const S* s = src + (h * W + x) * D + d0;
      std::fill(o, o + jd0, pad);
      if (sd == 1) {
        for (int64_t jd = jd0; jd < jd1; ++jd) o[jd] = static_cast<T>(static_cast<float>(s[jd]) * a + b);
      } else {
        for (int64_t jd = jd0; jd < jd1; ++jd) o[jd] = static_cast<T>(static_cast<float>(s[jd * sd]) * a + b);
      }
      std::fill(o + jd1, o + od, pad);
    }
  }
}

}  // namespace

bool extract_window_affine_cpu(const at::Tensor& src, const CropWindow& w, at::Tensor out, double a, double b,
                               double pad, bool flip_w) {
  if (!src.device().is_cpu() || !out.device().is_cpu() || !src.is_contiguous() || !out.is_contiguous() ||
      src.dim() != 3 || out.dim() != 3)
    return false;
  for (int i = 0; i < 3; ++i)
    if (out.size(i) != w.size[i] || w.step[i] < 1) return false;
  const std::array<int64_t, 3> dims{src.size(0), src.size(1), src.size(2)};
  if (src.scalar_type() == at::kShort && out.scalar_type() == at::kFloat) {
    affine_rows(src.data_ptr<int16_t>(), dims, w, out.data_ptr<float>(), static_cast<float>(a),
                static_cast<float>(b), static_cast<float>(pad), flip_w);
    return true;
  }
  if (src.scalar_type() == at::kByte && out.scalar_type() == at::kByte && a == 1.0 && b == 0.0) {
    affine_rows(src.data_ptr<uint8_t>(), dims, w, out.data_ptr<uint8_t>(), 1.0f, 0.0f,
                static_cast<uint8_t>(pad), flip_w);
    return true;
  }
  return false;
}

}  // namespace fratmae::data
