#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/volume.h"

using namespace fratmae;

namespace {

// A volume with an asymmetric marker: a voxel near the patient's anterior, left, superior
// corner region (not at the centre of any axis), and a gradient so every voxel is unique.
Volume marker_volume(const Geometry& g) {
  Volume v;
  v.geom = g;
  v.data = torch::arange(g.num_voxels(), torch::kFloat).reshape({g.size[2], g.size[1], g.size[0]});
  return v;
}

Geometry axial_lps() {  // standard axial DICOM: i -> L, j -> P, k -> S
  Geometry g;
  g.size = {5, 6, 7};
  g.spacing = {1.5, 2.0, 3.0};
  g.origin = {-10.0, 20.0, -300.0};
  return g;
}

// Physical position of voxel (i, j, k) of v.
std::array<double, 3> position(const Geometry& g, int64_t i, int64_t j, int64_t k) {
  return g.index_to_physical({double(i), double(j), double(k)});
}

void expect_same_physical_content(const Volume& a, const Volume& b) {
  // Every voxel of b has the value of the voxel of a at the same physical position.
  for (int64_t k = 0; k < b.geom.size[2]; ++k)
    for (int64_t j = 0; j < b.geom.size[1]; ++j)
      for (int64_t i = 0; i < b.geom.size[0]; ++i) {
        const auto p = position(b.geom, i, j, k);
        const auto idx = a.geom.physical_to_index(p);
        const int64_t ai = std::llround(idx[0]), aj = std::llround(idx[1]), ak = std::llround(idx[2]);
        ASSERT_NEAR(idx[0], ai, 1e-9);
        ASSERT_NEAR(idx[1], aj, 1e-9);
        ASSERT_NEAR(idx[2], ak, 1e-9);
        ASSERT_EQ(a.data[ak][aj][ai].item<float>(), b.data[k][j][i].item<float>());
      }
}

}  // namespace

TEST(Geometry, IndexPhysicalRoundTrip) {
  Geometry g = axial_lps();
  g.direction = {0, 0, 1, -1, 0, 0, 0, -1, 0};  // permuted and flipped
  const auto p = g.index_to_physical({1.0, 2.0, 3.5});
  const auto ijk = g.physical_to_index(p);
  EXPECT_NEAR(ijk[0], 1.0, 1e-12);
  EXPECT_NEAR(ijk[1], 2.0, 1e-12);
  EXPECT_NEAR(ijk[2], 3.5, 1e-12);
  // Columns: i -> (0,-1,0) anterior, j -> (0,0,-1) inferior, k -> (1,0,0) left.
  EXPECT_EQ(g.orientation_code(), "AIL");
}

TEST(Canonical, AxialLpsMarkerEndsInAnteriorLeftSuperior) {
  const Geometry g = axial_lps();
  Volume v;
  v.geom = g;
  v.data = torch::zeros({7, 6, 5});
  // Marker at i=4 (most left), j=0 (most anterior), k=6 (most superior).
  v.data[6][0][4] = 1.0f;
  const Volume c = to_canonical(v);
  // Canonical tensor [H, W, D] = [A->P, R->L, S->I].
  ASSERT_EQ(c.data.sizes(), (std::vector<int64_t>{6, 5, 7}));
  EXPECT_EQ(c.data[0][4][0].item<float>(), 1.0f);  // H=0 anterior, W=4 left, D=0 superior
  EXPECT_EQ(c.data.sum().item<float>(), 1.0f);
  // Its geometry is exactly canonical and the marker keeps its physical position.
  for (int e = 0; e < 9; ++e) EXPECT_EQ(c.geom.direction[e], canonical_direction()[e]);
  EXPECT_EQ(c.geom.orientation_code(), "ILP");
  const auto before = position(g, 4, 0, 6);
  const auto after = position(c.geom, 0, 4, 0);  // ITK order (D, W, H)
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(before[r], after[r], 1e-12);
}

TEST(Canonical, EveryVoxelKeepsItsPhysicalPosition) {
  const std::vector<std::array<double, 9>> directions = {
      {1, 0, 0, 0, 1, 0, 0, 0, 1},    // LPS axial
      {-1, 0, 0, 0, -1, 0, 0, 0, 1},  // RAS axial (NIfTI-style)
      {0, 0, 1, 1, 0, 0, 0, 1, 0},    // sagittal-like permutation
      {0, 1, 0, 0, 0, -1, 1, 0, 0},   // coronal-like
  };
  for (const auto& d : directions) {
    Geometry g = axial_lps();
    g.direction = d;
    const Volume v = marker_volume(g);
    const Volume c = to_canonical(v);
    for (int e = 0; e < 9; ++e) EXPECT_EQ(c.geom.direction[e], canonical_direction()[e]);
    expect_same_physical_content(v, c);
  }
}

TEST(Canonical, RoundTripIsBitExact) {
  Geometry g = axial_lps();
  g.direction = {0, 1, 0, 0, 0, -1, 1, 0, 0};
  g.origin = {0.1234567891, -7.000000001, 3.3};
  const Volume v = marker_volume(g);
  const Volume c = to_canonical(v);
  const Volume back = from_canonical(c.data, v.geom);
  EXPECT_TRUE(back.geom == v.geom);
  EXPECT_TRUE(torch::equal(back.data, v.data));
  // With leading channel dimensions too.
  const torch::Tensor stacked = torch::stack({c.data, c.data * 2});  // (2, H, W, D)
  const Volume back2 = from_canonical(stacked, v.geom);
  EXPECT_TRUE(torch::equal(back2.data[1], v.data * 2));
}

TEST(Canonical, ObliqueAt45DegreesIsRefused) {
  Geometry g = axial_lps();
  const double s = std::sqrt(0.5);
  g.direction = {s, -s, 0, s, s, 0, 0, 0, 1};  // both i and j at 45 degrees in the axial plane
  EXPECT_THROW(canonical_axis_map(g), Error);
}

TEST(Geometry, ValidateRejectsBadSpacingAndDirection) {
  Geometry g = axial_lps();
  g.spacing[1] = 0;
  EXPECT_THROW(g.validate("x"), Error);
  g = axial_lps();
  g.direction[0] = 2;
  EXPECT_THROW(g.validate("x"), Error);
  EXPECT_NO_THROW(axial_lps().validate("x"));
}

TEST(Volume, CheckRejectsShapeMismatch) {
  Volume v = marker_volume(axial_lps());
  EXPECT_NO_THROW(v.check("v"));
  v.data = v.data.transpose(0, 2);
  EXPECT_THROW(v.check("v"), Error);
}
