// Intensity normalisation of CT and PET, and the int16 storage code of the cache.
//
// Defaults (recorded in every cache's index.json under settings.normalize):
//   CT : HU clipped to [-1000, 1000], mapped linearly to [-1, 1]        (air -1, water 0, bone ~1)
//   PET: SUVbw clipped to [0, 20], then log1p(SUV) / log1p(20)  ->  [0, 1]
//        Why log: SUV is heavy-tailed (background 0.5-3, lesions, brain, bladder up to 20+).
//        Linear scaling spends most of the range on the few hottest voxels, so the MAE's
//        MSE would be dominated by them; log1p keeps background and lesion contrast
//        both visible (SUV 1 -> 0.23, 2.5 -> 0.41, 5 -> 0.59, 10 -> 0.79) and is monotone,
//        so thresholds (e.g. SUV 2.5) stay thresholds. "linear" (SUV / 20) is the alternative.
// Storage: a normalised value x in [-1, 1] is stored as int16 round(x * 32767)
// (kInt16Scale); decode with x = q / 32767. Resolution: 0.03 HU for CT, < 1e-4 SUV near 0.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>

namespace fratmae::data {

constexpr double kInt16Scale = 32767.0;

struct NormalizeConfig {
  double ct_min_hu = -1000.0;  // -> -1
  double ct_max_hu = 1000.0;   // -> +1
  double pet_max_suv = 20.0;   // SUV clipped to [0, pet_max_suv]
  std::string pet_transform = "log";  // "log": log1p(SUV)/log1p(max); "linear": SUV/max

  void validate() const;  // throws fratmae::Error saying what to fix
  nlohmann::json to_json() const;
  static NormalizeConfig from_json(const nlohmann::json& j);
};

/// HU -> [-1, 1] (float32, same shape).
at::Tensor normalize_ct(const at::Tensor& hu, const NormalizeConfig& cfg);
/// SUV -> [0, 1] (float32, same shape).
at::Tensor normalize_pet(const at::Tensor& suv, const NormalizeConfig& cfg);
/// Inverses (for reports and tests): [-1, 1] -> HU, [0, 1] -> SUV (within the clip range).
at::Tensor denormalize_ct(const at::Tensor& x, const NormalizeConfig& cfg);
at::Tensor denormalize_pet(const at::Tensor& x, const NormalizeConfig& cfg);

/// Float in [-1, 1] -> int16 storage code; and back to float32.
at::Tensor quantize_int16(const at::Tensor& x);
at::Tensor dequantize_int16(const at::Tensor& q);
/// `x` (normalised) as the cache stores it and the loaders read it back: through the int16 code.
at::Tensor as_stored(const at::Tensor& x);

/// -500 HU normalised: the level above which sliding windows count a CT voxel as body
/// (infer/sliding_window.h, body_only).
double body_level(const NormalizeConfig& cfg);

}  // namespace fratmae::data
