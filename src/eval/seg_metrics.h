// Segmentation metrics of one case, with AutoPET's conventions.
//
//   Dice = 2|P n T| / (|P| + |T|), IoU = |P n T| / |P u T|, sensitivity = |P n T| / |T|,
//   precision = |P n T| / |P|.
//   False-positive volume: mL of the predicted components (18-connected) that touch no truth
//   voxel; false-negative volume: mL of the truth components that touch no predicted voxel.
// Empty masks (AutoPET III's evaluation, evaluation_metrics.py of the challenge: Dice and the
// false-negative volume are reported over cases with lesions, the false-positive volume over
// all cases):
//   truth empty: Dice, IoU, sensitivity and FN volume are NaN ("not defined", left out of
//                means); precision NaN when the prediction is empty too, else 0.
//   truth not empty, prediction empty: Dice = IoU = sensitivity = 0; precision 0.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::eval {

struct SegMetrics {
  double dice = 0, iou = 0, sensitivity = 0, precision = 0;
  double fp_volume_ml = 0, fn_volume_ml = 0;
  double truth_volume_ml = 0, pred_volume_ml = 0;
  int64_t truth_lesions = 0, pred_lesions = 0;

  nlohmann::json to_json() const;  // NaN written as null
  static SegMetrics from_json(const nlohmann::json& j);  // to_json()'s inverse (null read as NaN)
  static const std::vector<std::string>& names();  // in to_json()'s order, for CSV columns
  double get(const std::string& name) const;        // by name; throws for an unknown one
};

/// Metrics of a predicted mask against the truth (same shape; non-zero = lesion). voxel_ml is
/// one voxel's volume in mL (spacing product / 1000). Throws fratmae::Error on shape mismatch.
SegMetrics segmentation_metrics(const at::Tensor& pred, const at::Tensor& truth, double voxel_ml,
                                int connectivity = 18);

/// Mean of the values that are not NaN (NaN when there are none).
double nan_mean(const std::vector<double>& v);

}  // namespace fratmae::eval
