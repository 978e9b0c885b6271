// Connected components of a binary 3D mask (what AutoPET's false-positive / false-negative
// volumes and the per-lesion statistics are counted over).
//
// Connectivity: 6 (faces), 18 (faces and edges: AutoPET's evaluation, cc3d connectivity=18)
// or 26 (faces, edges and corners).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace fratmae::eval {

struct Components {
  at::Tensor labels;           // int32, same shape as the mask: 0 background, 1..count a component
  int64_t count = 0;
  std::vector<int64_t> sizes;  // voxels of component c at sizes[c - 1]
};

/// Labels the non-zero voxels of a 3-D mask (any integer or bool dtype, any device; the work is
/// done on the CPU). Components are numbered in raster order of their first voxel. Throws
/// fratmae::Error for a mask that is not 3-D or an unsupported connectivity.
Components label_components(const at::Tensor& mask, int connectivity = 18);

}  // namespace fratmae::eval
