// Crop windows: coronal and axial stacks with subsampling, native crops with padding and
// lesion-aware placement.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "data/crops.h"

using namespace fratmae;
using data::CropConfig;
using data::CropKind;

namespace {
// (H, W, D) float volume whose value is the index along `axis`.
at::Tensor ramp(std::array<int64_t, 3> shape, int axis) {
  std::vector<int64_t> view{1, 1, 1};
  view[axis] = shape[axis];
  return at::arange(shape[axis], at::kFloat).view(view).expand({shape[0], shape[1], shape[2]}).contiguous();
}
}  // namespace

TEST(Crops, PaperShapes) {
  CropConfig c;
  EXPECT_EQ(data::crop_shape(c, {160, 160, 192}), (std::array<int64_t, 3>{32, 160, 192}));
  c.kind = CropKind::kAxial;
  EXPECT_EQ(data::crop_shape(c, {160, 160, 192}), (std::array<int64_t, 3>{160, 160, 32}));
  c.kind = CropKind::kNative;
  EXPECT_EQ(data::crop_shape(c, {160, 160, 192}), (std::array<int64_t, 3>{32, 160, 192}));
}

TEST(Crops, CoronalStackTakesEveryKthRowOfARandomRange) {
  const std::array<int64_t, 3> shape{40, 6, 7};
  CropConfig c;
  c.slices = 8;
  c.stride = 2;
  const at::Tensor src = ramp(shape, 0);
  std::set<int64_t> starts;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    data::Rng rng(seed);
    const data::CropWindow w = data::choose_window(c, shape, {}, rng);
    ASSERT_EQ(w.size, (std::array<int64_t, 3>{8, 6, 7}));
    ASSERT_GE(w.start[0], 0);
    ASSERT_LE(w.start[0], 40 - 16);  // h0 in [0, H - k h]
    starts.insert(w.start[0]);
    at::Tensor out = at::empty({8, 6, 7});
    data::extract_window(src, w, out, 1.0, -99);
    for (int64_t j = 0; j < 8; ++j)
      ASSERT_TRUE(out[j].eq(static_cast<float>(w.start[0] + 2 * j)).all().item<bool>()) << "row " << j;
  }
  EXPECT_TRUE(starts.count(0) && starts.count(24)) << "the whole range of starts is used";
  // Same seed, same window.
  data::Rng a(7), b(7);
  EXPECT_EQ(data::choose_window(c, shape, {}, a).start, data::choose_window(c, shape, {}, b).start);
  // Central (evaluation, staging): the middle range, no randomness.
  c.central = true;
  data::Rng r(1);
  EXPECT_EQ(data::choose_window(c, shape, {}, r).start, (std::array<int64_t, 3>{12, 0, 0}));
}

TEST(Crops, AxialStackIsThinInSI) {
  const std::array<int64_t, 3> shape{5, 6, 50};
  CropConfig c;
  c.kind = CropKind::kAxial;
  c.slices = 10;
  c.stride = 2;
  data::Rng rng(3);
  const data::CropWindow w = data::choose_window(c, shape, {}, rng);
  EXPECT_EQ(w.size, (std::array<int64_t, 3>{5, 6, 10}));
  at::Tensor out = at::empty({5, 6, 10});
  data::extract_window(ramp(shape, 2), w, out, 0.5, 0);
  for (int64_t j = 0; j < 10; ++j)
    EXPECT_TRUE(out.select(2, j).eq(0.5f * static_cast<float>(w.start[2] + 2 * j)).all().item<bool>());
}

TEST(Crops, StackLongerThanTheVolumeIsExplained) {
  CropConfig c;  // 32 slices every 2 = 64 rows
  data::Rng rng(0);
  try {
    data::choose_window(c, {40, 160, 192}, {}, rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
  }
  CropConfig bad;
  bad.stride = 0;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(Crops, NativeCropPadsShortAxesAndFindsLesions) {
  const std::array<int64_t, 3> shape{20, 10, 30};
  CropConfig c;
  c.kind = CropKind::kNative;
  c.native_size = {8, 16, 12};
  c.lesion_prob = 1.0;
  const at::Tensor lesion = at::tensor({15, 5, 25}, at::kInt).view({1, 3});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    data::Rng rng(seed);
    const data::CropWindow w = data::choose_window(c, shape, lesion, rng);
    EXPECT_EQ(w.start[1], -3);  // W = 10 < 16: centred, padded 3 + 3
    for (int a : {0, 2}) {
      const int64_t v = lesion[0][a].item<int64_t>();
      EXPECT_LE(w.start[a], v);
      EXPECT_GT(w.start[a] + w.size[a], v);
      EXPECT_GE(w.start[a], 0);
      EXPECT_LE(w.start[a] + w.size[a], shape[a]);
    }
    at::Tensor out = at::empty({8, 16, 12});
    data::extract_window(ramp(shape, 1), w, out, 1.0, -1.0);
    EXPECT_TRUE(out.slice(1, 0, 3).eq(-1.0f).all().item<bool>());
    EXPECT_TRUE(out.slice(1, 13, 16).eq(-1.0f).all().item<bool>());
    for (int64_t j = 3; j < 13; ++j) EXPECT_TRUE(out.select(1, j).eq(static_cast<float>(j - 3)).all().item<bool>());
  }
  // The lesion voxel lands at varying places of the crop, not always at its centre (a fixed
  // place would teach the model where lesions sit in a window).
  {
    c.native_size = {8, 4, 12};
    std::set<int64_t> offsets;
    for (uint64_t seed = 0; seed < 200; ++seed) {
      data::Rng rng(seed);
      const data::CropWindow w = data::choose_window(c, shape, lesion, rng);
      EXPECT_LE(w.start[0], 15);
      EXPECT_GT(w.start[0] + 8, 15);
      offsets.insert(15 - w.start[0]);
    }
    EXPECT_EQ(offsets.size(), 5u);  // start 8..12 (the crop must stay inside H = 20): offsets 3..7
    c.native_size = {8, 16, 12};
  }
  // Without lesions, or with lesion_prob 0, placement is uniform inside the volume.
  c.lesion_prob = 0.0;
  std::set<int64_t> starts;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    data::Rng rng(seed);
    starts.insert(data::choose_window(c, shape, lesion, rng).start[0]);
  }
  EXPECT_GT(starts.size(), 8u);
  EXPECT_EQ(*starts.rbegin(), 12);
  // Central: the middle.
  c.central = true;
  data::Rng rng(0);
  EXPECT_EQ(data::choose_window(c, shape, lesion, rng).start, (std::array<int64_t, 3>{6, -3, 9}));
}

TEST(Crops, WindowEntirelyOutsideIsPadding) {
  data::CropWindow w;
  w.start = {50, 0, 0};
  w.size = {4, 2, 2};
  at::Tensor out = at::zeros({4, 2, 2});
  data::extract_window(at::ones({10, 2, 2}), w, out, 1.0, 7.0);
  EXPECT_TRUE(out.eq(7.0f).all().item<bool>());
}
