// Where a training sample is cut from a cached volume (paper §2.2, §2.4; DESIGN.md).
//
// All volumes are [H, W, D] = [AP, LR, SI].
//   kCoronal (pre-training, staging): from the whole-body volume (H, W, D), a range of
//       stride * slices rows of H starting at h0, every stride-th kept: rows h0, h0 + k, ...,
//       h0 + k (slices - 1); full W and D. Default slices 32, k = 2 -> (32, 160, 192).
//       Training: h0 uniform in [0, H - k * slices]; central: h0 = (H - k * slices) / 2.
//   kAxial (paper Table 2, the axial-stack comparison): the same along D (thin in SI):
//       (H, W, slices) from a range of k * slices axial slices; (160, 160, 32) by default.
//   kNative (segmentation): a native_size crop of the native-resolution volume, no resizing
//       or subsampling. With probability lesion_prob it contains a random lesion voxel at a
//       uniformly random place of the crop (inside the volume), otherwise it is placed
//       uniformly; central: the centre. (lesion_centred: the lesion voxel at the crop's centre,
//       clamped inside the volume, as nnU-Net does; kept to measure the difference.) Along an
//       axis shorter than the crop the volume is centred and the rest padded (CT with air,
//       -1; PET and mask with 0). An axial-stack native crop is native_size = {160, 160, 32}.
// Every choice is a pure function of the seed (Rng), so samples do not depend on threads.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>

namespace fratmae::data {

enum class CropKind { kCoronal, kAxial, kNative };

struct CropConfig {
  CropKind kind = CropKind::kCoronal;
  int64_t slices = 32;  // kCoronal: h kept; kAxial: d kept
  int64_t stride = 2;   // k: every k-th slice of a k * slices range (paper: k = 2)
  std::array<int64_t, 3> native_size{32, 160, 192};  // kNative crop (h, w, d)
  double lesion_prob = 0.5;  // kNative: chance of a crop around a lesion voxel
  bool lesion_centred = false;  // kNative: that voxel at the crop's centre (clamped), not anywhere
  bool central = false;      // evaluation: central range / crop, nothing random

  void validate() const;  // throws fratmae::Error saying what to fix
  std::string to_string() const;
};

/// Deterministic random numbers for one sample (std::mt19937_64 seeded through splitmix64).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  int64_t uniform_int(int64_t lo, int64_t hi);  // inclusive bounds
  double uniform(double lo, double hi);
  bool bernoulli(double p);

 private:
  std::mt19937_64 gen_;
};

/// Mixes seeds into one (splitmix64), e.g. mix_seed(mix_seed(seed, epoch), step).
uint64_t mix_seed(uint64_t a, uint64_t b);

/// A strided box: output index j along axis a reads source index start[a] + j * step[a];
/// indices outside the source are padding.
struct CropWindow {
  std::array<int64_t, 3> start{0, 0, 0};
  std::array<int64_t, 3> step{1, 1, 1};
  std::array<int64_t, 3> size{0, 0, 0};  // output (h, w, d)
};

/// Output shape (h, w, d) of a crop from a cache whose whole-body size is `wb_size`.
std::array<int64_t, 3> crop_shape(const CropConfig& cfg, const std::array<int64_t, 3>& wb_size);

/// The window for one sample of a volume of shape `shape` (whole body for kCoronal/kAxial,
/// native for kNative). `lesion_voxels`: (n, 3) int32 CPU indices into that volume (kNative).
CropWindow choose_window(const CropConfig& cfg, const std::array<int64_t, 3>& shape,
                         const at::Tensor& lesion_voxels, Rng& rng);

/// out (h, w, d) = src (H, W, D) read through `w`, times `scale`, plus `shift`; padding = `pad`
/// (written as is). src any dtype/device; out float32 or uint8 on the same device.
void extract_window(const at::Tensor& src, const CropWindow& w, at::Tensor out, double scale, double pad,
                    double shift = 0.0);

/// The same in one pass, for the CPU loaders: out = src * a + b (padding `pad`, not scaled),
/// mirrored along W when flip_w. src: contiguous CPU int16 -> out float32, or uint8 -> uint8,
/// out contiguous. Returns false (and does nothing) for other types, devices or layouts.
bool extract_window_affine_cpu(const at::Tensor& src, const CropWindow& w, at::Tensor out, double a, double b,
                               double pad, bool flip_w);

}  // namespace fratmae::data
