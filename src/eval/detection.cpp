#include "eval/detection.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "eval/components.h"

namespace fratmae::eval {

std::vector<LesionDetection> lesion_detection(const at::Tensor& pred, const at::Tensor& truth, double voxel_ml,
                                              int connectivity) {
  if (pred.sizes() != truth.sizes()) throw Error("lesion detection: prediction and truth differ in size");
  const Components tc = label_components(truth, connectivity);
  std::vector<LesionDetection> out(static_cast<size_t>(tc.count));
  for (int64_t c = 0; c < tc.count; ++c) out[static_cast<size_t>(c)].volume_ml = static_cast<double>(tc.sizes[static_cast<size_t>(c)]) * voxel_ml;
  if (tc.count == 0) return out;
  const at::Tensor hit = tc.labels.masked_select(pred.to(at::kCPU).ne(0)).to(at::kLong);  // labels of predicted voxels
  const at::Tensor found = at::bincount(hit, {}, tc.count + 1);
  const int64_t* f = found.data_ptr<int64_t>();
  for (int64_t c = 1; c <= tc.count; ++c) out[static_cast<size_t>(c - 1)].detected = f[c] > 0;
  return out;
}

const std::vector<double>& detection_bin_edges() {
  static const std::vector<double> e{0.0, 0.5, 2.0, 8.0, std::numeric_limits<double>::infinity()};
  return e;
}

nlohmann::json detection_by_size(const std::vector<LesionDetection>& lesions) {
  const auto& e = detection_bin_edges();
  nlohmann::json bins = nlohmann::json::array();
  for (size_t b = 0; b + 1 < e.size(); ++b) {
    int64_t n = 0, k = 0;
    for (const auto& l : lesions)
      if (l.volume_ml >= e[b] && l.volume_ml < e[b + 1]) ++n, k += l.detected ? 1 : 0;
    char name[48];
    if (std::isinf(e[b + 1])) std::snprintf(name, sizeof(name), ">= %g mL", e[b]);
    else std::snprintf(name, sizeof(name), "%g-%g mL", e[b], e[b + 1]);
    bins.push_back({{"bin", name},
                    {"lesions", n},
                    {"detected", k},
                    {"sensitivity", n ? nlohmann::json(static_cast<double>(k) / static_cast<double>(n)) : nlohmann::json(nullptr)}});
  }
  return bins;
}

}  // namespace fratmae::eval
