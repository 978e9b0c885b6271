#include "phantom/grid.h"

#include <algorithm>
#include <cmath>

namespace fratmae::phantom {

namespace {
// Centre-aligned coordinates: index i of n voxels at spacing sp sits at (i - (n-1)/2) * sp.
at::Tensor centred(int64_t n, double sp, const at::TensorOptions& o) {
  return (at::arange(n, o) - 0.5 * static_cast<double>(n - 1)) * sp;
}
}  // namespace

at::Tensor Grid::ys() const { return centred(size[0], spacing[0], options()); }
at::Tensor Grid::xs() const { return centred(size[1], spacing[1], options()); }
at::Tensor Grid::ss() const { return at::arange(size[2], options()) * spacing[2]; }

Geometry Grid::geometry() const {
  // Canonical ITK axes: 0 = D along -z, 1 = W along +x, 2 = H along +y (core/volume.h).
  Geometry g;
  g.size = {size[2], size[1], size[0]};
  g.spacing = {spacing[2], spacing[1], spacing[0]};
  g.direction = canonical_direction();
  g.origin = {-0.5 * static_cast<double>(size[1] - 1) * spacing[1],
              -0.5 * static_cast<double>(size[0] - 1) * spacing[0], 0.0};
  return g;
}

Painter::Painter(const Grid& g) : grid_(g), ys_(g.ys()), xs_(g.xs()), ss_(g.ss()) {}

Box Painter::box(const Vec3& c, const Vec3& half) const {
  auto range = [](double lo_mm, double hi_mm, double first, double sp, int64_t n) {
    const int64_t lo = static_cast<int64_t>(std::floor((lo_mm - first) / sp));
    const int64_t hi = static_cast<int64_t>(std::ceil((hi_mm - first) / sp)) + 1;
    return std::pair<int64_t, int64_t>{std::clamp<int64_t>(lo, 0, n), std::clamp<int64_t>(hi, 0, n)};
  };
  const Grid& g = grid_;
  const double y0 = -0.5 * static_cast<double>(g.size[0] - 1) * g.spacing[0];
  const double x0 = -0.5 * static_cast<double>(g.size[1] - 1) * g.spacing[1];
  Box b;
  std::tie(b.h0, b.h1) = range(c.y - half.y, c.y + half.y, y0, g.spacing[0], g.size[0]);
  std::tie(b.w0, b.w1) = range(c.x - half.x, c.x + half.x, x0, g.spacing[1], g.size[1]);
  std::tie(b.d0, b.d1) = range(c.s - half.s, c.s + half.s, 0.0, g.spacing[2], g.size[2]);
  return b;
}

BoxCoords Painter::coords(const Box& b) const {
  return {ys_.slice(0, b.h0, b.h1).view({-1, 1, 1}), xs_.slice(0, b.w0, b.w1).view({1, -1, 1}),
          ss_.slice(0, b.d0, b.d1).view({1, 1, -1})};
}

at::Tensor Painter::view(const at::Tensor& t, const Box& b) {
  const int64_t lead = t.dim() - 3;
  return t.slice(lead, b.h0, b.h1).slice(lead + 1, b.w0, b.w1).slice(lead + 2, b.d0, b.d1);
}

at::Tensor Painter::ellipsoid(const Box& b, const Vec3& c, const Vec3& r) const {
  const BoxCoords k = coords(b);
  return ((k.x - c.x) / r.x).square() + ((k.y - c.y) / r.y).square() +
             ((k.s - c.s) / r.s).square() <= 1.0;  // (h, w, d)
}

at::Tensor Painter::rotated_ellipsoid(const Box& b, const Vec3& c, const Vec3& r,
                                      const std::array<double, 9>& rot) const {
  const BoxCoords k = coords(b);
  const at::Tensor dx = k.x - c.x, dy = k.y - c.y, ds = k.s - c.s;
  at::Tensor q = at::zeros({1, 1, 1}, grid_.options());
  const double radii[3] = {r.x, r.y, r.s};
  for (int a = 0; a < 3; ++a) {  // coordinate along principal axis a (column a of rot)
    const at::Tensor u = dx * rot[0 * 3 + a] + dy * rot[1 * 3 + a] + ds * rot[2 * 3 + a];
    q = q + (u / radii[a]).square();
  }
  return q <= 1.0;
}

at::Tensor Painter::capsule(const Box& b, const Vec3& p0, const Vec3& p1, double radius) const {
  const BoxCoords k = coords(b);
  const double vx = p1.x - p0.x, vy = p1.y - p0.y, vs = p1.s - p0.s;
  const double len2 = std::max(vx * vx + vy * vy + vs * vs, 1e-9);
  const at::Tensor dx = k.x - p0.x, dy = k.y - p0.y, ds = k.s - p0.s;
  const at::Tensor t = ((dx * vx + dy * vy + ds * vs) / len2).clamp(0.0, 1.0);
  return (dx - t * vx).square() + (dy - t * vy).square() + (ds - t * vs).square() <=
         radius * radius;
}

void Painter::fill_ellipsoid(at::Tensor& labels, const Vec3& c, const Vec3& r, int value,
                             int only_in) const {
  const Box b = box(c, r);
  if (b.empty()) return;
  at::Tensor v = view(labels, b);
  at::Tensor m = ellipsoid(b, c, r);
  if (only_in >= 0) m = m & (v == only_in);
  v.masked_fill_(m, value);
}

void Painter::fill_capsule(at::Tensor& labels, const Vec3& p0, const Vec3& p1, double radius,
                           int value, int only_in) const {
  const Vec3 c{(p0.x + p1.x) / 2, (p0.y + p1.y) / 2, (p0.s + p1.s) / 2};
  const Vec3 half{std::abs(p1.x - p0.x) / 2 + radius, std::abs(p1.y - p0.y) / 2 + radius,
                  std::abs(p1.s - p0.s) / 2 + radius};
  const Box b = box(c, half);
  if (b.empty()) return;
  at::Tensor v = view(labels, b);
  at::Tensor m = capsule(b, p0, p1, radius);
  if (only_in >= 0) m = m & (v == only_in);
  v.masked_fill_(m, value);
}

}  // namespace fratmae::phantom
