#include "data/normalize.h"

#include <cmath>

#include "core/error.h"

namespace fratmae::data {

using nlohmann::json;

void NormalizeConfig::validate() const {
  if (!(ct_max_hu > ct_min_hu))
    throw Error("normalisation: CT window must have ct_max_hu > ct_min_hu (default -1000..1000 HU)");
  if (!(pet_max_suv > 0)) throw Error("normalisation: pet_max_suv must be positive (default 20)");
  if (pet_transform != "log" && pet_transform != "linear")
    throw Error("normalisation: pet_transform must be 'log' or 'linear', got '" + pet_transform + "'");
}

json NormalizeConfig::to_json() const {
  return {{"ct", {{"clip_hu", {ct_min_hu, ct_max_hu}}, {"maps_to", {-1, 1}}}},
          {"pet", {{"clip_suv", {0.0, pet_max_suv}}, {"transform", pet_transform}, {"maps_to", {0, 1}},
                   {"formula", pet_transform == "log" ? "log1p(SUV) / log1p(max)" : "SUV / max"}}},
          {"storage", {{"dtype", "int16"}, {"code", "round(x * 32767)"}, {"decode", "q / 32767"}}}};
}

NormalizeConfig NormalizeConfig::from_json(const json& j) {
  NormalizeConfig c;
  c.ct_min_hu = j.at("ct").at("clip_hu").at(0).get<double>();
  c.ct_max_hu = j.at("ct").at("clip_hu").at(1).get<double>();
  c.pet_max_suv = j.at("pet").at("clip_suv").at(1).get<double>();
  c.pet_transform = j.at("pet").at("transform").get<std::string>();
  return c;
}

at::Tensor normalize_ct(const at::Tensor& hu, const NormalizeConfig& cfg) {
  const double half = 0.5 * (cfg.ct_max_hu - cfg.ct_min_hu), mid = 0.5 * (cfg.ct_max_hu + cfg.ct_min_hu);
  return (hu.to(at::kFloat).clamp(cfg.ct_min_hu, cfg.ct_max_hu) - mid) / half;
}

at::Tensor normalize_pet(const at::Tensor& suv, const NormalizeConfig& cfg) {
  at::Tensor x = suv.to(at::kFloat).clamp(0.0, cfg.pet_max_suv);
  if (cfg.pet_transform == "log") return at::log1p(x) / std::log1p(cfg.pet_max_suv);
  return x / cfg.pet_max_suv;
}

at::Tensor denormalize_ct(const at::Tensor& x, const NormalizeConfig& cfg) {
  const double half = 0.5 * (cfg.ct_max_hu - cfg.ct_min_hu), mid = 0.5 * (cfg.ct_max_hu + cfg.ct_min_hu);
  return x.to(at::kFloat) * half + mid;
}

at::Tensor denormalize_pet(const at::Tensor& x, const NormalizeConfig& cfg) {
  if (cfg.pet_transform == "log") return at::expm1(x.to(at::kFloat) * std::log1p(cfg.pet_max_suv));
  return x.to(at::kFloat) * cfg.pet_max_suv;
}

at::Tensor quantize_int16(const at::Tensor& x) {
  return (x.to(at::kFloat).clamp(-1.0, 1.0) * kInt16Scale).round().to(at::kShort);
}

at::Tensor dequantize_int16(const at::Tensor& q) { return q.to(at::kFloat) * (1.0 / kInt16Scale); }  // as the loaders do

at::Tensor as_stored(const at::Tensor& x) { return dequantize_int16(quantize_int16(x)); }

double body_level(const NormalizeConfig& cfg) { return normalize_ct(at::full({1}, -500.0), cfg).item<double>(); }

}  // namespace fratmae::data
