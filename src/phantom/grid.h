// The phantom's voxel grid and the shapes painted into it.
//
// Volumes are tensors in the canonical layout [H, W, D] = [anterior->posterior,
// right->left, superior->inferior] (core/volume.h). Body coordinates in mm:
//   x: patient's left (+) / right (-) of the midline       (along W)
//   y: posterior (+) / anterior (-) of the body's centre   (along H)
//   s: distance below the top of the field of view         (along D)
// Shapes are evaluated only inside their bounding box, on broadcast coordinate vectors, so
// painting a small organ costs little even on a whole-body grid.
#pragma once

#include <ATen/ATen.h>

#include <array>

#include "core/volume.h"

namespace fratmae::phantom {

struct Vec3 {
  double x = 0, y = 0, s = 0;
};

struct Grid {
  std::array<int64_t, 3> size{0, 0, 0};        // H, W, D
  std::array<double, 3> spacing{1.0, 1.0, 1.0};  // mm along H, W, D
  at::Device device = at::kCPU;

  /// Coordinates of voxel centres: y along H, x along W, s along D (1-D, float32).
  at::Tensor ys() const;
  at::Tensor xs() const;
  at::Tensor ss() const;
  /// The ITK geometry of a canonical [H, W, D] volume on this grid (LPS; s = 0 at z = 0).
  Geometry geometry() const;
  at::TensorOptions options(at::ScalarType t = at::kFloat) const {
    return at::TensorOptions().dtype(t).device(device);
  }
};

/// Index ranges [h0, h1) x [w0, w1) x [d0, d1) of a region, clipped to the grid.
struct Box {
  int64_t h0 = 0, h1 = 0, w0 = 0, w1 = 0, d0 = 0, d1 = 0;
  bool empty() const { return h1 <= h0 || w1 <= w0 || d1 <= d0; }
};

/// Broadcastable coordinates of a box: y (h,1,1), x (1,w,1), s (1,1,d).
struct BoxCoords {
  at::Tensor y, x, s;
};

class Painter {
 public:
  explicit Painter(const Grid& g);
  const Grid& grid() const { return grid_; }

  /// The box covering centre +- half extents (mm).
  Box box(const Vec3& centre, const Vec3& half) const;
  BoxCoords coords(const Box& b) const;
  /// View of `t` ([H, W, D] or more leading dims) restricted to b.
  static at::Tensor view(const at::Tensor& t, const Box& b);

  /// Inside-mask (bool, box-shaped) of an axis-aligned ellipsoid.
  at::Tensor ellipsoid(const Box& b, const Vec3& c, const Vec3& r) const;
  /// Inside-mask of an ellipsoid with axes along the columns of `rot` (row-major 3x3 in x, y, s).
  at::Tensor rotated_ellipsoid(const Box& b, const Vec3& c, const Vec3& r,
                               const std::array<double, 9>& rot) const;
  /// Inside-mask of a capsule (points within `radius` of segment p0-p1).
  at::Tensor capsule(const Box& b, const Vec3& p0, const Vec3& p1, double radius) const;

  /// Set `labels` to `value` inside an ellipsoid (optionally only where labels == only_in).
  void fill_ellipsoid(at::Tensor& labels, const Vec3& c, const Vec3& r, int value,
                      int only_in = -1) const;
  void fill_capsule(at::Tensor& labels, const Vec3& p0, const Vec3& p1, double radius, int value,
                    int only_in = -1) const;

 private:
  Grid grid_;
  at::Tensor ys_, xs_, ss_;
};

}  // namespace fratmae::phantom
