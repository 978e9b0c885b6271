#include "data/cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/cache_format.h"
#include "data/mapped_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::data {

namespace {

at::ScalarType dtype_of(const std::string& name, const fs::path& file) {
  if (name == "int16") return at::kShort;
  if (name == "uint8") return at::kByte;
  if (name == "int32") return at::kInt;
  throw FileError(file, "unknown array type '" + name + "' in the cache index");
}

}  // namespace

namespace {
// CLIP's vocabulary (text/clip_tokenizer.h, model/config.h): every text id of a case lies in it.
constexpr int64_t kClipVocabSize = 49408;
}  // namespace

// The arrays of a case as the readers use them: whole-body volumes of the cache's size, native
// volumes of one shape, the types the writer writes, lesion voxels inside the native volume.
void check_case_arrays(const CachedCase& c, const CacheSettings& settings, const fs::path& index_path) {
  auto bad = [&](const std::string& what) { throw FileError(index_path, "case " + c.id + ": " + what + "; rebuild the cache"); };
  const std::vector<int64_t> wb(settings.size.begin(), settings.size.end());
  for (const auto& [name, t, type] : {std::tuple{"wb_ct", c.wb_ct, at::kShort}, std::tuple{"wb_pet", c.wb_pet, at::kShort},
                                      std::tuple{"wb_seg", c.wb_seg, at::kByte}})
    if (t.defined() && (t.sizes().vec() != wb || t.scalar_type() != type))
      bad(std::string(name) + " is not a " + c10::toString(type) + " volume of the cache's whole-body size");
  if (c.nat_ct.defined() != c.nat_pet.defined() || (c.nat_seg.defined() && !c.nat_ct.defined()))
    bad("its native-resolution arrays are incomplete");
  if (c.nat_ct.defined()) {
    const auto shape = c.nat_ct.sizes().vec();
    if (shape.size() != 3 || c.nat_ct.scalar_type() != at::kShort || c.nat_pet.sizes().vec() != shape ||
        c.nat_pet.scalar_type() != at::kShort || (c.nat_seg.defined() && (c.nat_seg.sizes().vec() != shape || c.nat_seg.scalar_type() != at::kByte)))
      bad("its native-resolution arrays differ in shape or type");
  }
  const at::Tensor& lv = c.lesion_voxels;
  if (lv.dim() != 2 || lv.size(1) != 3 || lv.scalar_type() != at::kInt) bad("lesion_voxels is not an (n, 3) int32 array");
  if (lv.size(0) > 0) {
    // Native (h, w, d) indices, also kept when the native volumes are not (--no-native).
    std::vector<int64_t> native = c.nat_ct.defined() ? c.nat_ct.sizes().vec() : std::vector<int64_t>{};
    if (native.empty() && c.record.contains("native_shape") && c.record["native_shape"].is_array())
      native = c.record["native_shape"].get<std::vector<int64_t>>();
    if (native.size() != 3) bad("it has lesion voxels but no native shape");
    const at::Tensor limit = at::tensor(native, at::kInt).unsqueeze(0);
    if ((lv < 0).any().item<bool>() || (lv >= limit).any().item<bool>()) bad("a lesion voxel lies outside its volume");
  }
}

std::shared_ptr<Cache> Cache::open(const fs::path& dir) {
  const fs::path index_path = dir / kCacheIndexName;
  std::error_code ec;
  if (!fs::exists(index_path, ec))
    throw FileError(dir, std::string("is not a fratmae cache (no ") + kCacheIndexName +
                             "); make one with: fratmae preprocess --data DATA --out " + dir.string());
  std::shared_ptr<Cache> cache(new Cache());
  cache->dir_ = dir;
  try {
    cache->index_ = json::parse(read_file(index_path));
  } catch (const json::exception& e) {
    throw FileError(index_path, std::string("is not valid JSON: ") + e.what());
  }
  const json& index = cache->index_;
  if (!index.is_object() || index.value("format", "") != "fratmae-cache")
    throw FileError(index_path, "is not a fratmae cache index");
  const auto v = index.find("format_version");
  const int version = v != index.end() && v->is_number_integer() ? v->get<int>() : 0;
  if (version != kCacheFormatVersion)
    throw FileError(index_path, "cache format version " + std::to_string(version) + ", this fratmae reads version " +
                                    std::to_string(kCacheFormatVersion) + "; rebuild it with fratmae preprocess --overwrite");
  try {
    cache->settings_ = CacheSettings::from_json(index.at("settings"));
    const json& list = index.at("cases");
    const int64_t n = static_cast<int64_t>(list.size());
    cache->text_ids_ = at::zeros({n, 77}, at::kLong);         // (N, 77)
    cache->stage_labels_ = at::full({n}, -1, at::kLong);      // (N)
    for (int64_t i = 0; i < n; ++i) {
      const json& rec = list[i];
      CachedCase c;
      c.id = rec.at("id").get<std::string>();
      c.meta = CaseMeta::from_json(rec.at("meta"));
      c.prompt = rec.at("prompt").get<std::string>();
      const std::vector<int64_t> ids = rec.at("text_ids").get<std::vector<int64_t>>();
      if (ids.size() != 77) throw FileError(index_path, "case " + c.id + ": text_ids must have 77 entries");
      for (int64_t id : ids)
        if (id < 0 || id >= kClipVocabSize)
          throw FileError(index_path, "case " + c.id + ": text id " + std::to_string(id) + " is outside CLIP's vocabulary");
      c.text_ids = at::tensor(ids, at::kLong);
      cache->text_ids_[i].copy_(c.text_ids);
      c.stage_label = rec.at("stage_label").get<int64_t>();
      if (c.stage_label < -1 || c.stage_label > 1)
        throw FileError(index_path, "case " + c.id + ": stage_label must be -1, 0 or 1");
      cache->stage_labels_[i] = c.stage_label;
      c.wb_spacing = rec.at("wb_spacing_mm").get<std::array<double, 3>>();
      c.nat_spacing = rec.at("native_spacing_mm").get<std::array<double, 3>>();
      c.source_geometry = geometry_from_json(rec.at("source").value("geometry", json()));
      c.record = rec;

      // A case file lies inside the cache folder: no absolute path, no "..".
      const fs::path rel = rec.at("file").get<std::string>();
      if (rel.empty() || rel.is_absolute() || std::any_of(rel.begin(), rel.end(), [](const fs::path& p) { return p == ".."; }))
        throw FileError(index_path, "case " + c.id + ": its file '" + rel.string() + "' is not inside the cache folder");
      const fs::path file = dir / rel;
      if (!fs::exists(file, ec))
        throw FileError(file, "case file is missing: the cache is incomplete; run fratmae preprocess again");
      auto map = std::make_shared<MappedFile>(file);
      const int64_t expect = rec.at("file_bytes").get<int64_t>();
      if (static_cast<int64_t>(map->size()) != expect)
        throw FileError(file, "has " + std::to_string(map->size()) + " bytes, the index says " + std::to_string(expect) +
                                  ": truncated or replaced; run fratmae preprocess again");
      for (const auto& [name, a] : rec.at("arrays").items()) {
        const at::ScalarType t = dtype_of(a.at("dtype").get<std::string>(), file);
        const std::vector<int64_t> shape = a.at("shape").get<std::vector<int64_t>>();
        const int64_t offset = a.at("offset").get<int64_t>();
        // Sizes checked without overflow: every dimension >= 0, the bytes within the file.
        const int64_t elem = static_cast<int64_t>(c10::elementSize(t));
        int64_t numel = 1;
        bool fits = offset >= 0 && offset <= expect;
        for (int64_t s : shape) {
          if (s < 0 || (s > 0 && numel > (expect / elem) / s)) fits = false;
          if (!fits) break;
          numel *= s;
        }
        if (!fits || numel * elem > expect - offset)
          throw FileError(file, "array " + name + " lies outside the file; rebuild the cache");
        // Read-only view of the mapping; the deleter keeps the mapping alive.
        void* ptr = const_cast<uint8_t*>(map->data() + offset);
        at::Tensor v = at::from_blob(ptr, shape, [map](void*) {}, at::TensorOptions().dtype(t));
        if (name == "wb_ct") c.wb_ct = v;
        else if (name == "wb_pet") c.wb_pet = v;
        else if (name == "wb_seg") c.wb_seg = v;
        else if (name == "nat_ct") c.nat_ct = v;
        else if (name == "nat_pet") c.nat_pet = v;
        else if (name == "nat_seg") c.nat_seg = v;
        else if (name == "lesion_voxels") c.lesion_voxels = v;
      }
      if (!c.wb_ct.defined() || !c.wb_pet.defined())
        throw FileError(index_path, "case " + c.id + " has no whole-body arrays; rebuild the cache");
      if (!c.lesion_voxels.defined()) c.lesion_voxels = at::zeros({0, 3}, at::kInt);
      check_case_arrays(c, cache->settings_, index_path);
      cache->cases_.push_back(std::move(c));
    }
  } catch (const json::exception& e) {
    throw FileError(index_path, std::string("malformed cache index (") + e.what() + "); rebuild it with fratmae preprocess --overwrite");
  }
  return cache;
}

const CachedCase& Cache::at(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error("cache " + dir_.string() + ": case index " + std::to_string(i) + " out of range (" +
                std::to_string(size()) + " cases)");
  return cases_[static_cast<size_t>(i)];
}

int64_t Cache::find(const std::string& id) const {
  for (size_t i = 0; i < cases_.size(); ++i)
    if (cases_[i].id == id) return static_cast<int64_t>(i);
  return -1;
}

std::vector<std::string> Cache::ids() const {
  std::vector<std::string> out;
  for (const CachedCase& c : cases_) out.push_back(c.id);
  return out;
}

int64_t Cache::bytes(bool with_native) const {
  int64_t b = 0;
  auto add = [&](const at::Tensor& t) {
    if (t.defined()) b += t.numel() * static_cast<int64_t>(t.element_size());
  };
  for (const CachedCase& c : cases_) {
    add(c.wb_ct);
    add(c.wb_pet);
    add(c.wb_seg);
    if (with_native) {
      add(c.nat_ct);
      add(c.nat_pet);
      add(c.nat_seg);
    }
  }
  return b;
}

std::shared_ptr<Cache> Cache::to_device(const at::Device& device, bool with_native) const {
  std::shared_ptr<Cache> out(new Cache(*this));
  out->device_ = device;
  const int64_t n = size();
  const auto& s = settings_.size;
  bool all_seg = n > 0;
  for (const CachedCase& c : cases_) all_seg = all_seg && c.wb_seg.defined();
  try {
    const auto opt = at::TensorOptions().device(device);
    out->wb_ct_all_ = at::empty({n, s[0], s[1], s[2]}, opt.dtype(at::kShort));   // (N, H, W, D)
    out->wb_pet_all_ = at::empty({n, s[0], s[1], s[2]}, opt.dtype(at::kShort));  // (N, H, W, D)
    if (all_seg) out->wb_seg_all_ = at::empty({n, s[0], s[1], s[2]}, opt.dtype(at::kByte));
    for (int64_t i = 0; i < n; ++i) {
      CachedCase& c = out->cases_[static_cast<size_t>(i)];
      out->wb_ct_all_[i].copy_(c.wb_ct);
      out->wb_pet_all_[i].copy_(c.wb_pet);
      c.wb_ct = out->wb_ct_all_[i];
      c.wb_pet = out->wb_pet_all_[i];
      if (all_seg) {
        out->wb_seg_all_[i].copy_(c.wb_seg);
        c.wb_seg = out->wb_seg_all_[i];
      } else if (c.wb_seg.defined()) {
        c.wb_seg = c.wb_seg.to(device);
      }
      auto move = [&](at::Tensor& t) {
        if (t.defined()) t = with_native ? t.to(at::TensorOptions().device(device), /*non_blocking=*/false, /*copy=*/true)
                                : at::Tensor();
      };
      move(c.nat_ct);
      move(c.nat_pet);
      move(c.nat_seg);
      c.lesion_voxels = c.lesion_voxels.clone();  // small; stays on the CPU for sampling
      c.text_ids = c.text_ids.to(device);
    }
    out->text_ids_ = text_ids_.to(device);
    out->stage_labels_ = stage_labels_.to(device);
  } catch (const c10::Error& e) {
    throw Error("cache " + dir_.string() + ": cannot hold " + std::to_string(bytes(with_native) >> 20) +
                " MiB of images on " + device.str() + " (" + e.what_without_backtrace() +
                "); use the CPU loader (worker threads) instead, or leave out the native copies");
  }
  spdlog::debug("cache {}: {} cases, {} MiB on {}", dir_.string(), n, bytes(with_native) >> 20, device.str());
  return out;
}

}  // namespace fratmae::data
