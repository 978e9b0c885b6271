// Reorientation, resizing and normalisation of one case.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "data/case_arrays.h"
#include "data/preprocess.h"
#include "data_test_util.h"

using namespace fratmae;

namespace {

// A 20 x 30 x 40 voxel grid (2 x 3 x 4 mm) over x 0..38, y 0..87, z 0..156 mm, in one of
// three orientations; every orientation covers the same physical box.
Geometry grid(const std::string& kind) {
  Geometry g;
  if (kind == "LPS") {  // identity direction: i -> left, j -> posterior, k -> superior
    g.size = {20, 30, 40};
    g.spacing = {2, 3, 4};
    g.origin = {0, 0, 0};
  } else if (kind == "RAS") {  // i -> right, j -> anterior, k -> superior (NIfTI-style)
    g.size = {20, 30, 40};
    g.spacing = {2, 3, 4};
    g.origin = {38, 87, 0};
    g.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  } else {  // canonical: i -> inferior, j -> left, k -> posterior
    g.size = {40, 20, 30};
    g.spacing = {4, 2, 3};
    g.origin = {0, 0, 156};
    g.direction = canonical_direction();
  }
  return g;
}

// An asymmetric marker (SUV 5) in the patient's anterior-left-superior corner:
// x (left) 30..34 mm, y (posterior) 6..12 mm, z (superior) 136..144 mm.
Volume marker_volume(const Geometry& g) {
  at::Tensor t = at::zeros({g.size[2], g.size[1], g.size[0]});  // (nk, nj, ni)
  auto a = t.accessor<float, 3>();
  for (int64_t k = 0; k < g.size[2]; ++k)
    for (int64_t j = 0; j < g.size[1]; ++j)
      for (int64_t i = 0; i < g.size[0]; ++i) {
        const auto p = g.index_to_physical({double(i), double(j), double(k)});
        if (p[0] >= 29.5 && p[0] <= 34.5 && p[1] >= 5.5 && p[1] <= 12.5 && p[2] >= 135.5 && p[2] <= 144.5)
          a[k][j][i] = 5.0f;
      }
  return Volume{t, g};
}

// Centre of mass of a (H, W, D) tensor, in voxel indices.
std::array<double, 3> centre_of_mass(const at::Tensor& x) {
  const at::Tensor w = x.to(at::kDouble).clamp_min(0);
  const double total = w.sum().item<double>();
  std::array<double, 3> c{};
  for (int a = 0; a < 3; ++a) {
    std::vector<int64_t> shape{1, 1, 1};
    shape[a] = x.size(a);
    c[a] = (w * at::arange(x.size(a), at::kDouble).view(shape)).sum().item<double>() / total;
  }
  return c;
}

}  // namespace

TEST(Preprocess, MarkerEndsAnteriorLeftSuperiorInEveryOrientation) {
  for (const std::string kind : {"LPS", "RAS", "canonical"}) {
    SCOPED_TRACE(kind);
    const Geometry g = grid(kind);
    const Volume suv = marker_volume(g);
    const Volume ct{at::full_like(suv.data, -1000.0f) + suv.data * 200, g};
    data::CaseMeta meta;
    meta.id = "marker";
    const data::CaseArrays c = data::case_from_volumes(meta, ct, suv, Volume{(suv.data > 0).to(at::kByte), g});
    // [H, W, D] = [AP, RL, SI]: 30 x 20 x 40 voxels of 3 x 2 x 4 mm.
    ASSERT_EQ(c.suv.sizes(), (std::vector<int64_t>{30, 20, 40}));
    EXPECT_EQ(c.spacing, (std::array<double, 3>{3, 2, 4}));
    // y 6..12 mm -> rows 2..4 from the front; x 30..34 -> columns 15..17 towards the left;
    // z 136..144 -> slices 3..5 from the top (z = 156 is slice 0).
    const auto com = centre_of_mass(c.suv);
    EXPECT_NEAR(com[0], 3.0, 1e-9);
    EXPECT_NEAR(com[1], 16.0, 1e-9);
    EXPECT_NEAR(com[2], 4.0, 1e-9);
    EXPECT_EQ(c.seg.sum().item<int64_t>(), 27);
    EXPECT_TRUE(c.source_geometry == g);

    // Whole-body resize 30 x 20 x 40 -> 15 x 10 x 20: the marker keeps its place in the body.
    data::CacheSettings s;
    s.size = {15, 10, 20};
    const data::PreprocessedCase p = data::preprocess_case(c, s, {});
    ASSERT_EQ(p.wb_pet.sizes(), (std::vector<int64_t>{15, 10, 20}));
    const auto wb = centre_of_mass(data::dequantize_int16(p.wb_pet));
    // Index x of the source sits at (x + 0.5) * scale - 0.5 (align_corners = false).
    EXPECT_NEAR(wb[0], 3.5 * 0.5 - 0.5, 0.2);
    EXPECT_NEAR(wb[1], 16.5 * 0.5 - 0.5, 0.2);
    EXPECT_NEAR(wb[2], 4.5 * 0.5 - 0.5, 0.2);
    EXPECT_EQ(p.wb_spacing, (std::array<double, 3>{6, 4, 8}));
    // Nearest-neighbour labels stay 0/1 and near the marker.
    ASSERT_TRUE(p.wb_seg.defined());
    EXPECT_EQ(p.wb_seg.max().item<int>(), 1);
    const auto seg_com = centre_of_mass(p.wb_seg);
    EXPECT_NEAR(seg_com[0], wb[0], 1.0);
    EXPECT_NEAR(seg_com[1], wb[1], 1.0);
    // The native copy is the canonical volume itself; lesion voxels index it.
    ASSERT_TRUE(p.nat_pet.defined());
    EXPECT_EQ(p.nat_pet.sizes(), c.suv.sizes());
    ASSERT_EQ(p.lesion_voxels.size(0), 27);
    EXPECT_GE(p.lesion_voxels.select(1, 0).min().item<int>(), 2);
    EXPECT_LE(p.lesion_voxels.select(1, 0).max().item<int>(), 4);
  }
}

TEST(Preprocess, ResizeShapesAndValues) {
  const at::Tensor ones = at::ones({30, 20, 40});
  const at::Tensor r = data::resize_image(ones, {160, 160, 192});
  EXPECT_EQ(r.sizes(), (std::vector<int64_t>{160, 160, 192}));
  EXPECT_NEAR(r.min().item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(r.max().item<double>(), 1.0, 1e-6);
  // A ramp along D stays a monotone ramp.
  const at::Tensor ramp = at::arange(40, at::kFloat).view({1, 1, 40}).expand({4, 4, 40}).contiguous();
  const at::Tensor rr = data::resize_image(ramp, {4, 4, 20});
  EXPECT_TRUE((rr.select(2, 0).lt(rr.select(2, 19))).all().item<bool>());
  const at::Tensor lab = (at::rand({10, 10, 10}) > 0.5).to(at::kByte);
  const at::Tensor rl = data::resize_labels(lab, {20, 20, 20});
  EXPECT_EQ(rl.scalar_type(), at::kByte);
  EXPECT_TRUE(at::equal(rl.slice(0, 0, 20, 2).slice(1, 0, 20, 2).slice(2, 0, 20, 2), lab));
}

// resize_image_max against its definition, written out voxel by voxel: output i of n from an
// axis of m voxels is the maximum of input voxels floor(i m / n) .. ceil((i + 1) m / n) - 1.
TEST(Preprocess, MaxResizeIsTheMaximumOfEachVoxelsRegion) {
  const at::Tensor x = at::rand({7, 10, 13}, at::TensorOptions().dtype(at::kFloat));
  const std::array<int64_t, 3> n{3, 4, 5};
  const at::Tensor r = data::resize_image_max(x, n);
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{3, 4, 5}));
  const auto a = x.accessor<float, 3>();
  const auto lo = [](int64_t i, int64_t m, int64_t k) { return (i * m) / k; };
  const auto hi = [](int64_t i, int64_t m, int64_t k) { return ((i + 1) * m + k - 1) / k; };  // exclusive
  for (int64_t i = 0; i < n[0]; ++i)
    for (int64_t j = 0; j < n[1]; ++j)
      for (int64_t k = 0; k < n[2]; ++k) {
        float m = -1;
        for (int64_t u = lo(i, 7, 3); u < hi(i, 7, 3); ++u)
          for (int64_t v = lo(j, 10, 4); v < hi(j, 10, 4); ++v)
            for (int64_t w = lo(k, 13, 5); w < hi(k, 13, 5); ++w) m = std::max(m, a[u][v][w]);
        EXPECT_FLOAT_EQ(r[i][j][k].item<float>(), m) << i << " " << j << " " << k;
      }
  // An axis that grows: the maximum along the others first, then trilinear along it.
  const at::Tensor g = data::resize_image_max(x, {7, 5, 26});
  const at::Tensor pooled = data::resize_image_max(x, {7, 5, 13});
  EXPECT_TRUE(at::allclose(g, data::resize_image(pooled, {7, 5, 26})));
  EXPECT_TRUE(at::equal(data::resize_image_max(x, {7, 10, 13}), x));
}

// Why "max" exists: a one-voxel hot focus keeps its value in a whole body shrunk 2 x 1.6 x 2.08
// (the `small` phantom's 64 x 104 x 200 to the presets' 32 x 64 x 96), where trilinear sampling
// loses most of it; the settings carry the choice, and a cache made before it keeps its hash.
TEST(Preprocess, MaxResizeKeepsASmallHotFocus) {
  at::Tensor pet = at::full({64, 104, 200}, 0.1f);
  pet[31][50][101] = 0.8f;
  const at::Tensor lin = data::resize_image(pet, {32, 64, 96});
  data::CacheSettings s;
  s.size = {32, 64, 96};
  EXPECT_TRUE(at::equal(data::resize_pet(pet, s), lin));
  s.pet_resize = "max";
  const at::Tensor mx = data::resize_pet(pet, s);
  EXPECT_FLOAT_EQ(mx.max().item<float>(), 0.8f);
  EXPECT_FLOAT_EQ(mx.min().item<float>(), 0.1f);
  EXPECT_LT(lin.max().item<float>(), 0.45f) << "trilinear sampling is expected to miss most of the focus";
  const data::CacheSettings linear;
  EXPECT_FALSE(linear.to_json().contains("pet_resize"));
  EXPECT_NE(s.hash(), [&] { data::CacheSettings t = s; t.pet_resize = "linear"; return t.hash(); }());
  EXPECT_EQ(data::CacheSettings::from_json(s.to_json()).pet_resize, "max");
  EXPECT_EQ(data::CacheSettings::from_json(s.to_json()).hash(), s.hash());
  s.pet_resize = "cubic";
  EXPECT_THROW(s.validate(), Error);
  nlohmann::json j = linear.to_json();
  j["pet_resize"] = "cubic";  // a hand-edited index.json or run config
  EXPECT_THROW(data::CacheSettings::from_json(j), Error);
}

TEST(Preprocess, NormalisationDefaults) {
  const data::NormalizeConfig n;
  const at::Tensor hu = at::tensor({-3000.0f, -1000.0f, 0.0f, 500.0f, 1000.0f, 3000.0f});
  const at::Tensor x = data::normalize_ct(hu, n);
  EXPECT_TRUE(at::allclose(x, at::tensor({-1.0f, -1.0f, 0.0f, 0.5f, 1.0f, 1.0f})));
  const at::Tensor suv = at::tensor({-1.0f, 0.0f, 2.5f, 20.0f, 50.0f});
  const at::Tensor y = data::normalize_pet(suv, n);
  EXPECT_NEAR(y[0].item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(y[2].item<double>(), std::log1p(2.5) / std::log1p(20.0), 1e-6);
  EXPECT_NEAR(y[3].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(y[4].item<double>(), 1.0, 1e-6);
  // Round trips through the int16 code within a code step.
  const at::Tensor suv_in = at::tensor({0.0f, 0.7f, 2.5f, 11.0f});
  const at::Tensor back = data::denormalize_pet(data::dequantize_int16(data::quantize_int16(data::normalize_pet(suv_in, n))), n);
  EXPECT_TRUE(at::allclose(back, suv_in, 1e-3, 1e-3)) << back;
  const at::Tensor hu_in = at::tensor({-1000.0f, -57.0f, 40.0f, 999.0f});
  const at::Tensor hu_back = data::denormalize_ct(data::dequantize_int16(data::quantize_int16(data::normalize_ct(hu_in, n))), n);
  EXPECT_TRUE(at::allclose(hu_back, hu_in, 0, 0.05)) << hu_back;
  data::NormalizeConfig bad;
  bad.pet_transform = "sqrt";
  EXPECT_THROW(bad.validate(), Error);
}

TEST(Preprocess, SettingsHashFollowsTheSettings) {
  data::CacheSettings a, b;
  EXPECT_EQ(a.hash(), b.hash());
  b.size = {128, 128, 128};
  EXPECT_NE(a.hash(), b.hash());
  b = a;
  b.normalize.pet_max_suv = 10;
  EXPECT_NE(a.hash(), b.hash());
  EXPECT_EQ(data::CacheSettings::from_json(a.to_json()).hash(), a.hash());
  b = a;
  b.size = {160, 160, 4};
  EXPECT_THROW(b.validate(), Error);
}

TEST(Preprocess, GridMismatchIsRefusedWithAClearMessage) {
  const Geometry g = grid("LPS");
  Geometry other = g;
  other.spacing[2] = 5;
  data::CaseMeta meta;
  meta.id = "P7";
  try {
    data::case_from_volumes(meta, marker_volume(other), marker_volume(g), std::nullopt);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("case P7"), std::string::npos) << m;
    EXPECT_NE(m.find("not on the same grid"), std::string::npos) << m;
    EXPECT_NE(m.find("CTres"), std::string::npos) << m;
  }
}
