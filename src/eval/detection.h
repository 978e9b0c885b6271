// Lesion-level detection: which truth lesions a prediction finds, and the sensitivity by
// lesion size (small lesions are where PET segmentation fails first).
//
// A truth lesion is an 18-connected component of the truth mask; it is detected when at least
// one predicted voxel lies inside it.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::eval {

struct LesionDetection {
  double volume_ml = 0;
  bool detected = false;
};

/// One entry per truth lesion, in component order. Throws fratmae::Error on shape mismatch.
std::vector<LesionDetection> lesion_detection(const at::Tensor& pred, const at::Tensor& truth, double voxel_ml,
                                              int connectivity = 18);

/// Volume bins of detection_by_size(), in mL: [0, 0.5), [0.5, 2), [2, 8), [8, inf).
const std::vector<double>& detection_bin_edges();

/// Per bin: {"bin": "0.5-2 mL", "lesions": n, "detected": k, "sensitivity": k / n (null for n = 0)}.
nlohmann::json detection_by_size(const std::vector<LesionDetection>& lesions);

}  // namespace fratmae::eval
