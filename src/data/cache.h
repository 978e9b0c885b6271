// Reading the preprocessed cache (format: data/cache_format.h). No ITK: the ITK-free build
// trains from a cache.
//
//   auto cache = data::Cache::open("CACHE");           // memory-mapped, opens instantly
//   auto gpu = cache->to_device(at::Device("cuda"));   // the whole cache held on the GPU
//
// Tensors of an opened cache are read-only views of the mapped files (never write to them);
// they keep the mapping alive. A cache from to_device() holds its own copies, with the
// whole-body arrays also stacked (N, H, W, D) so a batch is one gather on the device.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/volume.h"
#include "data/metadata.h"
#include "data/preprocess.h"

namespace fratmae::data {

struct CachedCase {
  std::string id;
  CaseMeta meta;
  std::string prompt;
  at::Tensor text_ids;     // (77) int64 CLIP ids of the prompt
  int64_t stage_label;     // 0 early (I-II), 1 advanced (III-IV), -1 unknown
  at::Tensor wb_ct, wb_pet;  // (H, W, D) int16 codes (decode q / 32767)
  at::Tensor wb_seg;         // (H, W, D) uint8, or undefined
  at::Tensor nat_ct, nat_pet;  // (h, w, d) int16 codes at native resolution, or undefined
  at::Tensor nat_seg;          // (h, w, d) uint8, or undefined
  at::Tensor lesion_voxels;    // (n, 3) int32 native (h, w, d) indices (n may be 0)
  std::array<double, 3> wb_spacing{1, 1, 1}, nat_spacing{1, 1, 1};  // mm along H, W, D
  Geometry source_geometry;  // the source grid: from_canonical(x, source_geometry) maps a
                             // native-resolution result back onto it
  nlohmann::json record;     // the case's record in index.json
};

class Cache {
 public:
  /// Opens CACHE/index.json and memory-maps every case file. Throws FileError naming the file
  /// on a missing or newer-format index, a missing or truncated case file.
  static std::shared_ptr<Cache> open(const std::filesystem::path& dir);

  int64_t size() const { return static_cast<int64_t>(cases_.size()); }
  const CachedCase& at(int64_t i) const;
  /// Case index of `id`, or -1.
  int64_t find(const std::string& id) const;
  std::vector<std::string> ids() const;

  const CacheSettings& settings() const { return settings_; }
  const std::filesystem::path& dir() const { return dir_; }
  const at::Device& device() const { return device_; }
  /// (N, 77) int64 token ids and (N) int64 stage labels of all cases, on device().
  const at::Tensor& text_ids() const { return text_ids_; }
  const at::Tensor& stage_labels() const { return stage_labels_; }

  /// Image bytes of all cases: whole body, plus the native copies when with_native.
  int64_t bytes(bool with_native = true) const;

  /// A copy held in memory on `device` (CPU RAM or a GPU). Whole-body arrays are stacked:
  /// wb_ct_all() etc. (N, H, W, D), each case's wb_* a view into them. Throws fratmae::Error
  /// saying how much memory was needed when the device runs out.
  std::shared_ptr<Cache> to_device(const at::Device& device, bool with_native = true) const;
  /// True for a cache from to_device(): the stacks below are defined.
  bool resident() const { return wb_ct_all_.defined(); }
  const at::Tensor& wb_ct_all() const { return wb_ct_all_; }    // (N, H, W, D) int16
  const at::Tensor& wb_pet_all() const { return wb_pet_all_; }  // (N, H, W, D) int16
  const at::Tensor& wb_seg_all() const { return wb_seg_all_; }  // (N, H, W, D) uint8, or undefined

 private:
  Cache() = default;
  std::filesystem::path dir_;
  CacheSettings settings_;
  nlohmann::json index_;
  std::vector<CachedCase> cases_;
  at::Device device_ = at::kCPU;
  at::Tensor text_ids_, stage_labels_;
  at::Tensor wb_ct_all_, wb_pet_all_, wb_seg_all_;
};

}  // namespace fratmae::data
