// A training batch, and how one is assembled from the cache (crops + augmentation).
//
// make_batch() is a pure function of (cache, cases, crop, augmentation, seeds): the same
// arguments give the same batch on any number of threads. It works on a memory-mapped cache
// (CPU, one sample at a time) and on a resident one (Cache::to_device, e.g. on a GPU), where
// whole-body crops are one gather over the stacked (N, H, W, D) arrays.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "data/cache.h"
#include "data/crops.h"

namespace fratmae::data {

struct Batch {
  at::Tensor ct;           // (B, 1, h, w, d) float32, normalised CT in [-1, 1] (before augmentation)
  at::Tensor pet;          // (B, 1, h, w, d) float32, normalised PET in [0, 1]
  at::Tensor seg;          // (B, 1, h, w, d) uint8 lesion mask; defined for kNative crops of
                           // cases with masks (and whole-body crops when every case has one)
  at::Tensor text_ids;     // (B, 77) int64 CLIP ids of the prompts
  at::Tensor stage_label;  // (B) int64: 0 early (I-II), 1 advanced (III-IV), -1 unknown
  at::Tensor case_index;   // (B) int64 index into the cache
  int64_t epoch = 0, step = 0;

  int64_t size() const { return ct.defined() ? ct.size(0) : 0; }
  /// All tensors moved to `device` (non_blocking: from pinned memory where the caller pinned it).
  Batch to(const at::Device& device, bool non_blocking = false) const;
  /// Samples [begin, begin + n) of every per-sample tensor (a data-parallel rank's share).
  Batch rows(int64_t begin, int64_t n) const;
};

/// Augmentation on the loading path (training only).
struct AugmentConfig {
  bool enabled = false;
  double flip_w_prob = 0.5;      // mirror left-right (along W), image and mask together
  double intensity_scale = 0.1;  // x * U(1 - s, 1 + s), CT and PET drawn separately
  double intensity_shift = 0.05; // + U(-t, t) in normalised units (0.05 = 50 HU for CT)
  void validate() const;
};

/// The random choices for one sample, drawn from its seed in a fixed order.
struct SampleDraw {
  CropWindow window;
  bool flip_w = false;
  double ct_scale = 1, ct_shift = 0, pet_scale = 1, pet_shift = 0;
};
SampleDraw draw_sample(const CropConfig& crop, const AugmentConfig& aug,
                       const std::array<int64_t, 3>& shape, const at::Tensor& lesion_voxels,
                       uint64_t seed);

/// Whole-body crops of a resident cache (Cache::to_device) as one gather per modality over the
/// stacked (N, H, W, D) arrays: what make_batch does on a GPU. Same values as the per-sample
/// path to float rounding; seg defined when every case has a mask.
Batch gather_resident(const Cache& cache, const std::vector<int64_t>& cases, const std::vector<SampleDraw>& draws);

/// Batch-sized CPU buffers, reused once nobody holds them any more (no tensor or view of them
/// is alive). A fresh 50 MB allocation costs page faults on every batch, which on two cores
/// is a third of the time of a coronal batch. Thread-safe.
/// With `pinned`, buffers are page-locked (fast asynchronous copies to a GPU; needs a CUDA
/// LibTorch) and come from LibTorch's caching host allocator instead, which reuses a block
/// only once the copies reading it have finished.
class TensorPool {
 public:
  explicit TensorPool(size_t max_buffers = 32, bool pinned = false) : max_(max_buffers), pinned_(pinned) {}
  /// A buffer of this shape and type (contents undefined): a free one, or a new one.
  at::Tensor empty(at::IntArrayRef shape, const at::TensorOptions& options);

 private:
  std::mutex mutex_;
  std::vector<at::Tensor> buffers_;
  size_t max_;
  bool pinned_;
};

/// The batch of `cases` (indices into `cache`), sample b drawn from seeds[b]. Tensors are on
/// cache.device(); with `pool`, CPU batch tensors come from it. Throws fratmae::Error when the
/// cache lacks what the crop needs (native copies for kNative).
Batch make_batch(const Cache& cache, const std::vector<int64_t>& cases, const CropConfig& crop,
                 const AugmentConfig& aug, const std::vector<uint64_t>& seeds, TensorPool* pool = nullptr);

}  // namespace fratmae::data
