// Per-lesion quantities of a lesion mask on a PET (SUV) image: what a reader of a PET/CT
// report wants (volume, SUVmax, SUVmean, SUVpeak, TLG) and the totals (MTV, TLG, count).
//
//   lesion        an 18-connected component of the mask (eval/components.h)
//   volume_ml     voxels x voxel volume / 1000
//   SUVmax/mean   over the lesion's voxels
//   SUVpeak       PERCIST: the highest mean SUV of a 1 mL sphere (radius 6.2 mm) centred on any
//                 voxel of the lesion, the sphere taking every image voxel whose centre lies
//                 inside it (at least the centre voxel; voxels outside the image do not count)
//   TLG           SUVmean x volume_ml (total lesion glycolysis)
//   centroid      mean position of the lesion's voxels, LPS mm, and as a voxel index (i, j, k)
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/volume.h"

namespace fratmae::eval {

struct Lesion {
  int64_t label = 0;  // component number (1-based)
  int64_t voxels = 0;
  double volume_ml = 0, suv_max = 0, suv_mean = 0, suv_peak = 0, tlg = 0;
  std::array<double, 3> centroid_lps{0, 0, 0};
  std::array<double, 3> centroid_index{0, 0, 0};  // (i, j, k), ITK order
};

struct LesionSummary {
  std::vector<Lesion> lesions;  // largest first
  double mtv_ml = 0, tlg = 0;
  int64_t count() const { return static_cast<int64_t>(lesions.size()); }
  nlohmann::json to_json() const;
};

/// Lesions of `mask` (non-zero = lesion) measured on `suv` (same grid; geometries must agree).
/// Throws fratmae::Error when the grids differ.
LesionSummary lesion_statistics(const Volume& mask, const Volume& suv, int connectivity = 18);

}  // namespace fratmae::eval
