#include "eval/reference_floors.h"

#include <algorithm>

#include "core/error.h"
#include "eval/components.h"

namespace fratmae::eval {

const std::vector<std::string>& reference_floors() {
  static const std::vector<std::string> names{"suv2.5", "suv4.0", "suvmax41"};
  return names;
}

at::Tensor body_mask(const at::Tensor& ct_hu, double air_hu) {
  if (ct_hu.dim() != 3) throw Error("body mask: the CT must be a 3-D volume");
  const Components air = label_components(ct_hu.lt(air_hu), 6);
  if (air.count == 0) return at::ones(ct_hu.sizes(), at::kByte);
  // Air components that touch any face of the volume are outside the body.
  at::Tensor outside = at::zeros({air.count + 1}, at::kBool);
  const at::Tensor lab = air.labels.to(at::kLong);
  for (int a = 0; a < 3; ++a)
    for (int64_t i : {int64_t{0}, lab.size(a) - 1}) outside.index_put_({lab.select(a, i).flatten()}, true);
  outside[0] = false;
  return outside.index({lab}).logical_not().to(at::kByte);
}

at::Tensor floor_segmentation(const std::string& method, const at::Tensor& suv_in, const at::Tensor& body) {
  if (suv_in.dim() != 3) throw Error("reference floor: the SUV image must be a 3-D volume");
  if (body.defined() && body.sizes() != suv_in.sizes())
    throw Error("reference floor: the body mask and the SUV image differ in size");
  const at::Tensor suv = suv_in.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor inside = body.defined() ? body.to(at::kCPU).ne(0) : at::ones(suv.sizes(), at::kBool);
  if (method == "suv2.5") return suv.ge(2.5).logical_and(inside).to(at::kByte);
  if (method == "suv4.0") return suv.ge(4.0).logical_and(inside).to(at::kByte);
  if (method != "suvmax41")
    throw Error("unknown reference floor '" + method + "' (suv2.5, suv4.0, suvmax41)");
  const Components regions = label_components(suv.ge(2.5).logical_and(inside), 18);
  at::Tensor out = at::zeros(suv.sizes(), at::kByte);
  if (regions.count == 0) return out;
  const at::Tensor lab = regions.labels.contiguous();
  const int32_t* l = lab.data_ptr<int32_t>();
  const float* s = suv.data_ptr<float>();
  const int64_t n = suv.numel();
  std::vector<float> peak(static_cast<size_t>(regions.count + 1), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    if (l[i] > 0) peak[static_cast<size_t>(l[i])] = std::max(peak[static_cast<size_t>(l[i])], s[i]);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    if (l[i] > 0 && s[i] >= 0.41f * peak[static_cast<size_t>(l[i])]) o[i] = 1;
  return out;
}

}  // namespace fratmae::eval
