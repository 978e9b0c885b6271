#include "eval/seg_metrics.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "eval/components.h"

namespace fratmae::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Voxels of the components of `labels` that share no voxel with `other`.
int64_t unmatched_voxels(const Components& comp, const at::Tensor& other) {
  if (comp.count == 0) return 0;
  // touched[c] = 1 when component c overlaps `other`.
  const at::Tensor hit_labels = comp.labels.masked_select(other).to(at::kLong);
  at::Tensor touched = at::zeros({comp.count + 1}, at::kLong);
  if (hit_labels.numel() > 0) touched.index_fill_(0, hit_labels, 1);
  const int64_t* t = touched.data_ptr<int64_t>();
  int64_t n = 0;
  for (int64_t c = 1; c <= comp.count; ++c)
    if (!t[c]) n += comp.sizes[static_cast<size_t>(c - 1)];
  return n;
}
}  // namespace

SegMetrics segmentation_metrics(const at::Tensor& pred_in, const at::Tensor& truth_in, double voxel_ml,
                                int connectivity) {
  if (pred_in.sizes() != truth_in.sizes())
    throw Error("segmentation metrics: prediction and truth differ in shape (" + std::to_string(pred_in.dim()) +
                "-D " + c10::str(pred_in.sizes()) + " vs " + c10::str(truth_in.sizes()) + ")");
  const at::Tensor pred = pred_in.ne(0).cpu().contiguous(), truth = truth_in.ne(0).cpu().contiguous();
  const double p = static_cast<double>(pred.sum().item<int64_t>());
  const double t = static_cast<double>(truth.sum().item<int64_t>());
  const double inter = static_cast<double>(pred.logical_and(truth).sum().item<int64_t>());
  const double uni = p + t - inter;

  SegMetrics m;
  m.truth_volume_ml = t * voxel_ml;
  m.pred_volume_ml = p * voxel_ml;
  if (t == 0) {
    m.dice = m.iou = m.sensitivity = kNaN;
    m.precision = p == 0 ? kNaN : 0.0;
  } else {
    m.dice = 2 * inter / (p + t);
    m.iou = inter / uni;
    m.sensitivity = inter / t;
    m.precision = p == 0 ? 0.0 : inter / p;
  }
  const Components pc = label_components(pred, connectivity), tc = label_components(truth, connectivity);
  m.pred_lesions = pc.count;
  m.truth_lesions = tc.count;
  m.fp_volume_ml = static_cast<double>(unmatched_voxels(pc, truth)) * voxel_ml;
  m.fn_volume_ml = t == 0 ? kNaN : static_cast<double>(unmatched_voxels(tc, pred)) * voxel_ml;
  return m;
}

const std::vector<std::string>& SegMetrics::names() {
  static const std::vector<std::string> n{"dice", "iou", "sensitivity", "precision", "fp_volume_ml", "fn_volume_ml",
                                          "truth_volume_ml", "pred_volume_ml", "truth_lesions", "pred_lesions"};
  return n;
}

double SegMetrics::get(const std::string& name) const {
  if (name == "dice") return dice;
  if (name == "iou") return iou;
  if (name == "sensitivity") return sensitivity;
  if (name == "precision") return precision;
  if (name == "fp_volume_ml") return fp_volume_ml;
  if (name == "fn_volume_ml") return fn_volume_ml;
  if (name == "truth_volume_ml") return truth_volume_ml;
  if (name == "pred_volume_ml") return pred_volume_ml;
  if (name == "truth_lesions") return static_cast<double>(truth_lesions);
  if (name == "pred_lesions") return static_cast<double>(pred_lesions);
  throw Error("unknown segmentation metric '" + name + "'");
}

nlohmann::json SegMetrics::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& n : names()) {
    const double v = get(n);
    if (std::isnan(v)) j[n] = nullptr;
    else if (n == "truth_lesions" || n == "pred_lesions") j[n] = static_cast<int64_t>(v);
    else j[n] = v;
  }
  return j;
}

SegMetrics SegMetrics::from_json(const nlohmann::json& j) {
  auto num = [&](const char* name) {
    const nlohmann::json& v = j.at(name);
    return v.is_null() ? kNaN : v.get<double>();
  };
  SegMetrics m;
  m.dice = num("dice"), m.iou = num("iou"), m.sensitivity = num("sensitivity"), m.precision = num("precision");
  m.fp_volume_ml = num("fp_volume_ml"), m.fn_volume_ml = num("fn_volume_ml");
  m.truth_volume_ml = num("truth_volume_ml"), m.pred_volume_ml = num("pred_volume_ml");
  m.truth_lesions = j.at("truth_lesions").get<int64_t>(), m.pred_lesions = j.at("pred_lesions").get<int64_t>();
  return m;
}

double nan_mean(const std::vector<double>& v) {
  double s = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) s += x, ++n;
  return n ? s / static_cast<double>(n) : kNaN;
}

}  // namespace fratmae::eval
