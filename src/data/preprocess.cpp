#include "data/preprocess.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "data/cache_format.h"

namespace fratmae::data {

using nlohmann::json;

namespace {
bool known_pet_resize(const std::string& mode) { return mode == "linear" || mode == "max"; }
}  // namespace

void CacheSettings::validate() const {
  for (int a = 0; a < 3; ++a)
    if (size[a] < 16 || size[a] > 2048)
      throw Error("preprocess: --size must give three sizes between 16 and 2048 (H W D; default 160 160 192)");
  normalize.validate();
  if (max_lesion_voxels < 1) throw Error("preprocess: max_lesion_voxels must be positive");
  if (!known_pet_resize(pet_resize))
    throw Error("preprocess: --pet-resize must be 'linear' or 'max' (was '" + pet_resize + "')");
}

json CacheSettings::to_json() const {
  json j = {{"whole_body_size", size},
            {"whole_body_resize", "trilinear (images), nearest (masks), align_corners=false"},
            {"native", native},
            {"max_lesion_voxels", max_lesion_voxels},
            {"normalize", normalize.to_json()}};
  // Only when not the default: a cache made before the setting existed keeps its hash.
  if (pet_resize != "linear") {
    j["pet_resize"] = pet_resize;
    j["whole_body_resize"] = "PET: maximum over each voxel's region (adaptive max pooling), trilinear where it grows; "
                             "CT: trilinear; masks: nearest; align_corners=false";
  }
  return j;
}

CacheSettings CacheSettings::from_json(const json& j) {
  CacheSettings s;
  s.size = j.at("whole_body_size").get<std::array<int64_t, 3>>();
  s.native = j.at("native").get<bool>();
  s.max_lesion_voxels = j.at("max_lesion_voxels").get<int64_t>();
  s.normalize = NormalizeConfig::from_json(j.at("normalize"));
  s.pet_resize = j.value("pet_resize", std::string("linear"));
  if (!known_pet_resize(s.pet_resize))
    throw Error("cache settings: pet_resize '" + s.pet_resize + "' is neither 'linear' nor 'max'");
  return s;
}

std::string CacheSettings::hash() const {
  // FNV-1a 64 of the format version and the settings' JSON (keys sorted by nlohmann::json).
  const std::string text = std::to_string(kCacheFormatVersion) + to_json().dump();
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

at::Tensor resize_image(const at::Tensor& x, const std::array<int64_t, 3>& size) {
  at::Tensor v = x.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // (1, 1, H, W, D)
  if (v.size(2) == size[0] && v.size(3) == size[1] && v.size(4) == size[2]) return x.to(at::kFloat);
  return at::upsample_trilinear3d(v, {size[0], size[1], size[2]}, /*align_corners=*/false)
      .squeeze(0)
      .squeeze(0);  // (H', W', D')
}

at::Tensor resize_image_max(const at::Tensor& x, const std::array<int64_t, 3>& size) {
  at::Tensor v = x.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // (1, 1, H, W, D)
  std::array<int64_t, 3> shrunk{};
  bool grows = false;
  for (int a = 0; a < 3; ++a) {
    shrunk[a] = std::min(size[a], v.size(a + 2));
    grows = grows || size[a] > v.size(a + 2);
  }
  v = std::get<0>(at::adaptive_max_pool3d(v, {shrunk[0], shrunk[1], shrunk[2]}));  // (1, 1, h', w', d')
  if (grows) v = at::upsample_trilinear3d(v, {size[0], size[1], size[2]}, /*align_corners=*/false);
  return v.squeeze(0).squeeze(0).contiguous();  // (H', W', D')
}

at::Tensor resize_pet(const at::Tensor& x, const CacheSettings& settings) {
  return settings.pet_resize == "max" ? resize_image_max(x, settings.size) : resize_image(x, settings.size);
}

at::Tensor resize_labels(const at::Tensor& x, const std::array<int64_t, 3>& size) {
  at::Tensor v = x.to(at::kFloat).unsqueeze(0).unsqueeze(0);  // (1, 1, H, W, D)
  return at::upsample_nearest3d(v, {size[0], size[1], size[2]}).squeeze(0).squeeze(0).to(at::kByte);
}

PreprocessedCase preprocess_case(const CaseArrays& c, const CacheSettings& settings,
                                 std::vector<int64_t> text_ids) {
  validate_case(c);
  PreprocessedCase p;
  p.meta = c.meta;
  p.prompt = make_prompt(c.meta);
  p.text_ids = std::move(text_ids);
  const at::Tensor ct = normalize_ct(c.ct.cpu(), settings.normalize);     // (h, w, d) [-1, 1]
  const at::Tensor pet = normalize_pet(c.suv.cpu(), settings.normalize);  // (h, w, d) [0, 1]
  const at::Tensor seg = c.seg.defined() ? c.seg.cpu().to(at::kByte) : at::Tensor();

  p.wb_ct = quantize_int16(resize_image(ct, settings.size)).contiguous();    // (H, W, D)
  p.wb_pet = quantize_int16(resize_pet(pet, settings)).contiguous();       // (H, W, D)
  if (seg.defined()) p.wb_seg = resize_labels(seg, settings.size).contiguous();
  for (int a = 0; a < 3; ++a) {
    p.nat_spacing[a] = c.spacing[a];
    p.wb_spacing[a] = c.spacing[a] * static_cast<double>(ct.size(a)) / static_cast<double>(settings.size[a]);
  }
  if (settings.native) {
    p.nat_ct = quantize_int16(ct).contiguous();
    p.nat_pet = quantize_int16(pet).contiguous();
    if (seg.defined()) p.nat_seg = seg.contiguous();
  }
  p.lesion_voxels = at::zeros({0, 3}, at::kInt);
  if (seg.defined()) {
    at::Tensor idx = at::nonzero(seg);  // (n, 3) int64, row-major order
    p.lesion_voxel_count = idx.size(0);
    if (idx.size(0) > settings.max_lesion_voxels) {
      // An even subsample, deterministic: lesion-aware crops need positions, not all of them.
      const at::Tensor keep = at::linspace(0, static_cast<double>(idx.size(0) - 1),
                                           settings.max_lesion_voxels, at::kDouble)
                                  .round()
                                  .to(at::kLong);
      idx = idx.index_select(0, keep);
    }
    p.lesion_voxels = idx.to(at::kInt).contiguous();  // (n, 3) native (h, w, d)
  }
  return p;
}

}  // namespace fratmae::data
