#include "core/volume.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace fratmae {

std::array<double, 3> Geometry::index_to_physical(const std::array<double, 3>& ijk) const {
  std::array<double, 3> p = origin;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) p[r] += dir(r, c) * spacing[c] * ijk[c];
  return p;
}

std::array<double, 3> Geometry::physical_to_index(const std::array<double, 3>& p) const {
  // direction is orthonormal: its inverse is its transpose.
  std::array<double, 3> d{p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]};
  std::array<double, 3> ijk{0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    for (int r = 0; r < 3; ++r) s += dir(r, c) * d[r];
    ijk[c] = s / spacing[c];
  }
  return ijk;
}

bool Geometry::same_grid(const Geometry& o, double tol) const {
  if (size != o.size) return false;
  for (int a = 0; a < 3; ++a) {
    if (std::abs(spacing[a] - o.spacing[a]) > tol) return false;
    if (std::abs(origin[a] - o.origin[a]) > tol) return false;
  }
  for (int e = 0; e < 9; ++e)
    if (std::abs(direction[e] - o.direction[e]) > tol) return false;
  return true;
}

bool Geometry::operator==(const Geometry& o) const {
  return size == o.size && spacing == o.spacing && origin == o.origin && direction == o.direction;
}

std::string Geometry::orientation_code() const {
  // For each index axis, the anatomical direction it points *towards* (LPS letters for +,
  // RAI letters for -). E.g. a standard axial DICOM series points towards L, P, S: "LPS".
  std::string code;
  const char pos[3] = {'L', 'P', 'S'}, neg[3] = {'R', 'A', 'I'};
  for (int c = 0; c < 3; ++c) {
    int best = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(dir(r, c)) > std::abs(dir(best, c))) best = r;
    code += dir(best, c) >= 0 ? pos[best] : neg[best];
  }
  return code;
}

void Geometry::validate(const std::string& what) const {
  for (int a = 0; a < 3; ++a) {
    if (size[a] <= 0) throw Error(what + ": image size must be positive along every axis");
    if (!(spacing[a] > 0) || !std::isfinite(spacing[a]))
      throw Error(what + ": voxel spacing must be positive and finite, got " +
                  std::to_string(spacing[a]) + " mm on axis " + std::to_string(a));
    if (!std::isfinite(origin[a])) throw Error(what + ": origin is not finite");
  }
  for (int c1 = 0; c1 < 3; ++c1)
    for (int c2 = 0; c2 < 3; ++c2) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += dir(r, c1) * dir(r, c2);
      if (std::abs(dot - (c1 == c2 ? 1.0 : 0.0)) > 1e-3)
        throw Error(what + ": direction matrix is not orthonormal");
    }
}

std::string Geometry::to_string() const {
  std::ostringstream s;
  s.precision(6);
  s << "size " << size[0] << " x " << size[1] << " x " << size[2] << ", spacing " << spacing[0]
    << " x " << spacing[1] << " x " << spacing[2] << " mm, origin (" << origin[0] << ", "
    << origin[1] << ", " << origin[2] << ") mm, orientation " << orientation_code();
  return s.str();
}

void Volume::check(const std::string& what) const {
  if (!data.defined()) throw Error(what + ": volume has no data");
  if (data.dim() != 3 || data.size(0) != geom.size[2] || data.size(1) != geom.size[1] ||
      data.size(2) != geom.size[0])
    throw Error(what + ": voxel array shape does not match the geometry's size");
}

bool AxisMap::is_identity() const {
  return perm == std::array<int, 3>{0, 1, 2} && !flip[0] && !flip[1] && !flip[2];
}

std::array<double, 9> canonical_direction() {
  // columns: axis 0 (D) = -z, axis 1 (W) = +x, axis 2 (H) = +y
  return {0, 1, 0,  //
          0, 0, 1,  //
          -1, 0, 0};
}

AxisMap canonical_axis_map(const Geometry& geom) {
  // For the canonical ITK axis b, which physical LPS axis and sign it must follow.
  const int want_phys[3] = {2, 0, 1};      // D: z, W: x, H: y
  const double want_sign[3] = {-1, 1, 1};  // D towards inferior, W towards left, H posterior
  // Dominant physical axis of each old index axis.
  int phys_of_old[3];
  for (int c = 0; c < 3; ++c) {
    int best = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(geom.dir(r, c)) > std::abs(geom.dir(best, c))) best = r;
    phys_of_old[c] = best;
  }
  AxisMap m;
  for (int b = 0; b < 3; ++b) {
    int found = -1;
    for (int c = 0; c < 3; ++c)
      if (phys_of_old[c] == want_phys[b]) {
        if (found >= 0)
          throw Error("cannot reorient: two image axes point along the same anatomical axis "
                      "(oblique acquisition of about 45 degrees); resample it first");
        found = c;
      }
    if (found < 0)
      throw Error("cannot reorient: no image axis points along anatomical axis " +
                  std::string(1, "xyz"[want_phys[b]]));
    m.perm[b] = found;
    m.flip[b] = geom.dir(want_phys[b], found) * want_sign[b] < 0;
  }
  return m;
}

namespace {
// ITK index axis a is tensor dimension 2 - a of a (nk, nj, ni) tensor (or of the last three
// dimensions of a tensor with leading channel dimensions).
at::Tensor permute_tensor(const at::Tensor& t, const AxisMap& m) {
  const int64_t lead = t.dim() - 3;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (int b = 2; b >= 0; --b) dims.push_back(lead + 2 - m.perm[b]);
  at::Tensor out = t.permute(dims);
  std::vector<int64_t> flips;
  for (int b = 0; b < 3; ++b)
    if (m.flip[b]) flips.push_back(lead + 2 - b);
  if (!flips.empty()) out = out.flip(flips);
  return out.contiguous();
}

AxisMap inverse(const AxisMap& m) {
  // new axis b = old axis perm[b] (flipped); so old axis perm[b] = new axis b (flipped).
  AxisMap inv;
  for (int b = 0; b < 3; ++b) {
    inv.perm[m.perm[b]] = b;
    inv.flip[m.perm[b]] = m.flip[b];
  }
  return inv;
}
}  // namespace

Volume permute_axes(const Volume& v, const AxisMap& m) {
  v.check("permute_axes");
  Volume out;
  Geometry& g = out.geom;
  g.origin = v.geom.origin;
  for (int b = 0; b < 3; ++b) {
    const int a = m.perm[b];
    g.size[b] = v.geom.size[a];
    g.spacing[b] = v.geom.spacing[a];
    const double s = m.flip[b] ? -1.0 : 1.0;
    for (int r = 0; r < 3; ++r) g.direction[r * 3 + b] = s * v.geom.dir(r, a);
  }
  for (int b = 0; b < 3; ++b) {
    if (!m.flip[b]) continue;
    const int a = m.perm[b];
    const double len = v.geom.spacing[a] * static_cast<double>(v.geom.size[a] - 1);
    for (int r = 0; r < 3; ++r) g.origin[r] += v.geom.dir(r, a) * len;
  }
  out.data = m.is_identity() ? v.data : permute_tensor(v.data, m);
  return out;
}

Volume to_canonical(const Volume& v) { return permute_axes(v, canonical_axis_map(v.geom)); }

Volume from_canonical(const at::Tensor& canonical, const Geometry& original) {
  const AxisMap m = canonical_axis_map(original);
  Volume out;
  out.geom = original;
  out.data = m.is_identity() ? canonical : permute_tensor(canonical, inverse(m));
  return out;
}

nlohmann::json geometry_to_json(const Geometry& g) {
  return {{"size", g.size},
          {"spacing", g.spacing},
          {"origin", g.origin},
          {"direction", g.direction},
          {"orientation", g.orientation_code()}};
}

Geometry geometry_from_json(const nlohmann::json& j) {
  Geometry g;
  if (j.is_null()) return g;
  g.size = j.at("size").get<std::array<int64_t, 3>>();
  g.spacing = j.at("spacing").get<std::array<double, 3>>();
  g.origin = j.at("origin").get<std::array<double, 3>>();
  g.direction = j.at("direction").get<std::array<double, 9>>();
  return g;
}

}  // namespace fratmae
