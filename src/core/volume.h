// A 3D image with its geometry, and the canonical [H, W, D] tensor layout.
//
// Geometry follows ITK's conventions exactly: physical points are in LPS millimetres
// (x to the patient's Left, y to Posterior, z to Superior); index axis a (a = 0, 1, 2 is
// ITK's i, j, k, i fastest in memory) points along column a of `direction` and steps
// `spacing[a]` mm; `origin` is the centre of voxel (0, 0, 0):
//
//     p = origin + direction * diag(spacing) * (i, j, k)^T
//
// Volume::data holds the voxels in ITK's buffer order, i.e. a tensor of shape
// (size[2], size[1], size[0]) = (nk, nj, ni).
//
// The canonical layout used by the model (DESIGN.md) is tensor axes
//     [H, W, D] = [anterior->posterior, right->left, superior->inferior]
// so that a coronal slice is a W x D plane displayed head-up in radiological convention.
// In ITK terms: index axis 0 = D along -z, axis 1 = W along +x, axis 2 = H along +y.
// to_canonical() permutes and flips axes (never interpolates), so the round trip
// canonical -> from_canonical(original geometry) is bit-exact.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae {

struct Geometry {
  std::array<int64_t, 3> size{0, 0, 0};        // voxels along ITK index axes i, j, k
  std::array<double, 3> spacing{1.0, 1.0, 1.0};  // mm
  std::array<double, 3> origin{0.0, 0.0, 0.0};   // LPS mm, centre of voxel (0,0,0)
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major 3x3, column a = axis a

  double dir(int row, int col) const { return direction[row * 3 + col]; }
  int64_t num_voxels() const { return size[0] * size[1] * size[2]; }
  double voxel_volume_mm3() const { return spacing[0] * spacing[1] * spacing[2]; }

  /// Physical (LPS mm) position of a continuous index (i, j, k).
  std::array<double, 3> index_to_physical(const std::array<double, 3>& ijk) const;
  /// Continuous index of a physical point (inverse of index_to_physical).
  std::array<double, 3> physical_to_index(const std::array<double, 3>& p) const;

  /// True when size matches and spacing/origin/direction agree within `tol` (absolute, mm or
  /// direction cosine units).
  bool same_grid(const Geometry& other, double tol = 1e-4) const;
  /// Bit-exact equality of all fields.
  bool operator==(const Geometry& other) const;

  /// For each index axis, the anatomical direction it points towards: "LPS" for a standard
  /// axial DICOM series (i to the left, j to posterior, k to superior); "SLP" is canonical.
  std::string orientation_code() const;
  /// Throws fratmae::Error if spacing is not positive or direction is not orthonormal.
  void validate(const std::string& what) const;
  std::string to_string() const;
};

/// A grid as JSON, {"size", "spacing", "origin", "direction", "orientation"} (mm, LPS; the
/// cache's index.json and other records), and back (the orientation is not read; null -> the
/// default Geometry). from_json throws nlohmann::json's exceptions on a malformed object.
nlohmann::json geometry_to_json(const Geometry& g);
Geometry geometry_from_json(const nlohmann::json& j);

struct Volume {
  at::Tensor data;  // (nk, nj, ni), any dtype
  Geometry geom;

  /// Throws fratmae::Error if data's shape does not match geom.size.
  void check(const std::string& what) const;
};

/// How to map a volume's ITK axes to the canonical ones: new axis b takes old axis perm[b],
/// reversed when flip[b].
struct AxisMap {
  std::array<int, 3> perm{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
  bool is_identity() const;
};

/// The permutation/flip that brings `geom` closest to the canonical orientation.
/// Throws if two index axes point along the same physical axis (e.g. a 45-degree oblique).
AxisMap canonical_axis_map(const Geometry& geom);

/// Permute/flip the axes of `v` (geometry updated so every voxel keeps its physical position).
Volume permute_axes(const Volume& v, const AxisMap& map);

/// `v` reoriented so that its data tensor is laid out [H, W, D] (see top of file).
Volume to_canonical(const Volume& v);

/// Inverse of to_canonical: a tensor in canonical layout [H, W, D] (or with leading channel
/// dims [..., H, W, D]) returned to the ITK layout of `original`, with `original`'s geometry
/// copied exactly.
Volume from_canonical(const at::Tensor& canonical, const Geometry& original);

/// The canonical direction matrix (row-major): columns -z, +x, +y.
std::array<double, 9> canonical_direction();

}  // namespace fratmae
