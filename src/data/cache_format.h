// The on-disk cache written by `fratmae preprocess` (data/cache_writer.h) and read by
// data/cache.h.
//
//   CACHE/index.json          format version, settings, one record per case (below)
//   CACHE/cases/<id>.bin      the case's arrays, back to back, each at a 64-byte aligned
//                             offset, C order, little-endian; memory-mapped by the reader
//
// index.json:
//   { "format": "fratmae-cache", "format_version": 1, "fratmae_version": "...",
//     "settings": CacheSettings::to_json(), "settings_hash": "...",
//     "layout": "[H, W, D] = [anterior->posterior, right->left, superior->inferior]",
//     "cases": [ {                                   (sorted by id; position = case index)
//        "id", "meta" (CaseMeta::to_json), "prompt", "text_ids" [77], "stage_label",
//        "file": "cases/<id>.bin", "file_bytes",
//        "arrays": { name: {"dtype": "int16"|"uint8"|"int32", "shape": [...], "offset": bytes} },
//            names: wb_ct, wb_pet, [wb_seg], [nat_ct, nat_pet, [nat_seg]], lesion_voxels
//        "wb_spacing_mm" [3], "native_shape" [3], "native_spacing_mm" [3],
//        "has_seg", "lesion_voxel_count",
//        "source": {"geometry": {size, spacing, origin, direction, orientation},
//                   "paths" / other fields given by the importer, "signature"},
//        "settings_hash" } ] }
// Images: int16 codes of the normalised values (data/normalize.h, decode q / 32767);
// masks uint8 0/1; lesion_voxels int32 (n, 3) native (h, w, d) indices.
#pragma once

#include <cstdint>

namespace fratmae::data {

constexpr int kCacheFormatVersion = 1;
constexpr const char* kCacheIndexName = "index.json";
constexpr const char* kCacheCasesDir = "cases";
constexpr int64_t kCacheAlignment = 64;

}  // namespace fratmae::data
