// Preprocessing of one case for the cache: normalise, resize the whole body, keep a native copy.
//
//   whole body (pre-training, staging): (H, W, D) resized to settings.size (default the paper's
//       160 x 160 x 192), trilinear for images (align_corners = false), nearest for the mask;
//       the volume is stretched to fill the size (the paper resizes; it does not pad).
//       With pet_resize "max" the PET is instead shrunk by taking the maximum of the native
//       voxels each whole-body voxel covers (a coarse maximum-intensity view): sampled
//       trilinearly at a third to a half of its resolution, a 10-15 mm node falls between the
//       sample points or is averaged into its surroundings, while readers stage by each focus's
//       SUVmax. The paper's 160 x 160 x 192 keeps such nodes; the CPU presets' 32 x 64 x 96 does not.
//   native (segmentation): the canonical volume at its own resolution, not resized.
// Both are normalised (data/normalize.h) and stored as int16 codes; masks as uint8 0/1.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "data/case_arrays.h"
#include "data/normalize.h"

namespace fratmae::data {

struct CacheSettings {
  std::array<int64_t, 3> size{160, 160, 192};  // whole-body (H, W, D)
  NormalizeConfig normalize;
  bool native = true;                 // also keep the native-resolution copy (segmentation)
  int64_t max_lesion_voxels = 65536;  // lesion voxel coordinates kept per case for sampling
  std::string pet_resize = "linear";  // whole-body PET: "linear" (trilinear, as CT) or "max"

  void validate() const;  // throws fratmae::Error saying which option to fix
  nlohmann::json to_json() const;
  static CacheSettings from_json(const nlohmann::json& j);
  /// 16 hex digits identifying these settings and the cache format version; a cached case
  /// made with another hash is preprocessed again.
  std::string hash() const;
};

struct PreprocessedCase {
  CaseMeta meta;
  std::string prompt;             // make_prompt(meta)
  std::vector<int64_t> text_ids;  // CLIP ids of the prompt, 77, zero-padded
  at::Tensor wb_ct, wb_pet;       // (H, W, D) int16 codes, H, W, D = settings.size
  at::Tensor wb_seg;              // (H, W, D) uint8, or undefined without a mask
  at::Tensor nat_ct, nat_pet;     // (h, w, d) int16 codes at native resolution, or undefined
  at::Tensor nat_seg;             // (h, w, d) uint8, or undefined
  at::Tensor lesion_voxels;       // (n, 3) int32 native (h, w, d) indices of lesion voxels
  int64_t lesion_voxel_count = 0; // all lesion voxels (lesion_voxels may be a subsample)
  std::array<double, 3> wb_spacing{1, 1, 1}, nat_spacing{1, 1, 1};  // mm along H, W, D
};

/// (H, W, D) float image -> `size`, trilinear.
at::Tensor resize_image(const at::Tensor& x, const std::array<int64_t, 3>& size);
/// (H, W, D) float image -> `size`: along every axis that shrinks, the maximum over the input
/// voxels each output voxel covers (adaptive max pooling: output i of n from input m covers
/// floor(i m / n) .. ceil((i + 1) m / n) - 1); then trilinear along the axes that grow.
at::Tensor resize_image_max(const at::Tensor& x, const std::array<int64_t, 3>& size);
/// The whole-body PET as `settings` asks: resize_image or resize_image_max.
at::Tensor resize_pet(const at::Tensor& x, const CacheSettings& settings);
/// (H, W, D) uint8 labels -> `size`, nearest neighbour.
at::Tensor resize_labels(const at::Tensor& x, const std::array<int64_t, 3>& size);

/// Validates (validate_case) and preprocesses one case. `text_ids` is the tokenised prompt
/// (the caller owns the tokenizer). Single-threaded use of LibTorch is the caller's choice.
PreprocessedCase preprocess_case(const CaseArrays& c, const CacheSettings& settings,
                                 std::vector<int64_t> text_ids);

}  // namespace fratmae::data
