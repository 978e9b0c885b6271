// Sliding-window inference over a whole-body volume (paper §2.4: the segmentation model is
// trained on native-resolution crops, so a study is segmented window by window).
//
// Windows of `window` voxels are placed along each axis from 0 to L - w in equal steps of at
// most w * (1 - overlap) (the last window ends at the border; an axis shorter than the window
// is padded: CT with -1 (air), PET with 0). Each window's foreground probability is weighted by
// a Gaussian centred on the window (sigma = sigma_scale * window, nnU-Net's choice; the weight
// never drops below a small positive floor) and the weighted sum is divided by the summed
// weights. With flip TTA each window is also predicted mirrored left-right (W) and the two
// averaged.
//
// With body_only, windows cover only the bounding box of the body (the voxels whose normalised
// CT exceeds body_level, -500 HU with the default normalisation); everything outside it is air
// around the patient, background by definition (nnU-Net likewise crops to the non-zero region
// before it predicts). That halves the windows of a whole-body study and keeps predictions out
// of the air.
//
// Memory stays bounded: windows are taken slab by slab along D (superior -> inferior), `batch`
// windows per forward pass (a pass may span two slabs; a pass is never a single window); the
// weighted sums live in two float buffers of H x W x (window_D + the slab steps one pass
// spans) that roll down the volume, and each finished slab is thresholded into the uint8 mask
// at once. No full-volume float buffer is kept unless keep_probability asks for the
// probability map.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <functional>

namespace fratmae {
class Progress;
}

namespace fratmae::infer {

struct SlidingWindowConfig {
  std::array<int64_t, 3> window{32, 160, 192};  // (h, w, d): the model's input shape
  double overlap = 0.5;                         // fraction of a window shared with the next
  int64_t batch = 4;                            // windows per forward pass
  double sigma_scale = 0.125;                   // Gaussian sigma as a fraction of the window
  bool flip_tta = false;                        // also predict mirrored along W, average
  double threshold = 0.5;                       // foreground probability -> mask
  bool keep_probability = false;                // also return the full probability map
  bool body_only = false;                       // windows only over the body's bounding box
  double body_level = -0.5;                     // normalised CT above which a voxel is body

  void validate() const;  // throws fratmae::Error
};

/// Foreground probability of a batch of windows: ct, pet (N, 1, h, w, d) -> (N, h, w, d) float.
using WindowPredictor = std::function<at::Tensor(const at::Tensor& ct, const at::Tensor& pet)>;

struct SlidingWindowResult {
  at::Tensor mask;         // (H, W, D) uint8 on the CPU
  at::Tensor probability;  // (H, W, D) float on the CPU when keep_probability, else undefined
  int64_t windows = 0;     // forward windows evaluated (x2 with flip TTA)
};

/// Window start positions along an axis of length `length` (nnU-Net's rule).
std::vector<int64_t> window_starts(int64_t length, int64_t window, double overlap);

/// The Gaussian importance map (h, w, d), maximum 1.
at::Tensor gaussian_importance(const std::array<int64_t, 3>& window, double sigma_scale);

/// Runs `predict` over the volume. ct, pet: (H, W, D) normalised, on any device (windows are cut
/// there; accumulation happens on the CPU). `progress` (optional) advances once per window.
SlidingWindowResult sliding_window(const at::Tensor& ct, const at::Tensor& pet, const WindowPredictor& predict,
                                   const SlidingWindowConfig& cfg, Progress* progress = nullptr);

/// Number of windows sliding_window() will evaluate for a volume of `shape` (without TTA and
/// without body_only).
int64_t count_windows(const std::array<int64_t, 3>& shape, const SlidingWindowConfig& cfg);
/// The same for this CT volume, honouring body_only.
int64_t count_windows(const at::Tensor& ct, const SlidingWindowConfig& cfg);

/// Index ranges [lo, hi) along H, W, D of the voxels where ct > level (all {0, 0} when none).
std::array<std::array<int64_t, 2>, 3> body_box(const at::Tensor& ct, double level);

}  // namespace fratmae::infer
