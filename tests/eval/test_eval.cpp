// Connected components, segmentation and classification metrics, bootstrap intervals and
// lesion statistics against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/bootstrap.h"
#include "eval/classification.h"
#include "eval/components.h"
#include "eval/lesion_stats.h"
#include "eval/seg_metrics.h"

using namespace fratmae;

namespace {
at::Tensor vol(int64_t a, int64_t b, int64_t c) { return at::zeros({a, b, c}, at::kByte); }
}  // namespace

TEST(Components, ConnectivityDecidesEdgeAndCornerNeighbours) {
  at::Tensor edge = vol(3, 3, 3);  // two voxels sharing an edge
  edge[0][0][0] = 1;
  edge[0][1][1] = 1;
  EXPECT_EQ(eval::label_components(edge, 6).count, 2);
  EXPECT_EQ(eval::label_components(edge, 18).count, 1);
  at::Tensor corner = vol(3, 3, 3);  // two voxels sharing a corner only
  corner[0][0][0] = 1;
  corner[1][1][1] = 1;
  EXPECT_EQ(eval::label_components(corner, 18).count, 2);
  EXPECT_EQ(eval::label_components(corner, 26).count, 1);
}

TEST(Components, MergesBranchesAndNumbersInRasterOrder) {
  // A "U": two arms that meet only at the bottom row, found as two labels first.
  at::Tensor m = vol(1, 4, 5);
  for (int64_t r = 0; r < 4; ++r) m[0][r][0] = 1, m[0][r][4] = 1;
  for (int64_t c = 0; c < 5; ++c) m[0][3][c] = 1;
  m[0][0][2] = 1;  // a separate voxel, second in raster order
  const auto comp = eval::label_components(m, 6);
  ASSERT_EQ(comp.count, 2);
  EXPECT_EQ(comp.labels[0][0][0].item<int>(), 1);
  EXPECT_EQ(comp.labels[0][0][4].item<int>(), 1);
  EXPECT_EQ(comp.labels[0][0][2].item<int>(), 2);
  EXPECT_EQ(comp.sizes[0], 4 + 4 + 3);
  EXPECT_EQ(comp.sizes[1], 1);
}

TEST(Components, RefusesBadInput) {
  EXPECT_THROW(eval::label_components(at::zeros({4, 4}, at::kByte)), Error);
  EXPECT_THROW(eval::label_components(vol(2, 2, 2), 10), Error);
}

TEST(SegMetrics, HandComputedCase) {
  // Truth: a 2x2x2 cube (8 voxels) and a separate single voxel (missed -> FN volume).
  // Prediction: 4 voxels inside the cube plus a separate 2-voxel blob (FP volume).
  at::Tensor t = vol(6, 6, 6), p = vol(6, 6, 6);
  t.slice(0, 0, 2).slice(1, 0, 2).slice(2, 0, 2).fill_(1);
  t[5][5][5] = 1;
  p.slice(0, 0, 1).slice(1, 0, 2).slice(2, 0, 2).fill_(1);
  p[4][0][5] = 1;
  p[5][0][5] = 1;
  const double ml = 0.5;  // per voxel
  const auto m = eval::segmentation_metrics(p, t, ml);
  EXPECT_NEAR(m.dice, 2.0 * 4 / (6 + 9), 1e-12);
  EXPECT_NEAR(m.iou, 4.0 / 11, 1e-12);
  EXPECT_NEAR(m.sensitivity, 4.0 / 9, 1e-12);
  EXPECT_NEAR(m.precision, 4.0 / 6, 1e-12);
  EXPECT_DOUBLE_EQ(m.fp_volume_ml, 2 * ml);
  EXPECT_DOUBLE_EQ(m.fn_volume_ml, 1 * ml);
  EXPECT_DOUBLE_EQ(m.truth_volume_ml, 9 * ml);
  EXPECT_EQ(m.truth_lesions, 2);
  EXPECT_EQ(m.pred_lesions, 2);
}

// The worked example at the end of AutoPET III's evaluation_metrics.py (the challenge's
// evaluation code): truth two 4^3 cubes at [1:5)^3 and [6:10)^3, prediction one 4^3 cube at
// [0:4)^3 overlapping the first: false positives 0, false negatives 64 voxels, Dice 0.28125.
TEST(SegMetrics, AutoPetChallengeExample) {
  at::Tensor truth = vol(10, 10, 10), pred = vol(10, 10, 10);
  truth.narrow(0, 1, 4).narrow(1, 1, 4).narrow(2, 1, 4).fill_(1);
  truth.narrow(0, 6, 4).narrow(1, 6, 4).narrow(2, 6, 4).fill_(1);
  pred.narrow(0, 0, 4).narrow(1, 0, 4).narrow(2, 0, 4).fill_(1);
  const auto m = eval::segmentation_metrics(pred, truth, 1.0);
  EXPECT_DOUBLE_EQ(m.fp_volume_ml, 0);
  EXPECT_DOUBLE_EQ(m.fn_volume_ml, 64);
  EXPECT_DOUBLE_EQ(m.dice, 0.28125);
  // Its "empty" check: a prediction on a case without lesions counts every voxel as false positive.
  const auto empty = eval::segmentation_metrics(pred, vol(10, 10, 10), 1.0);
  EXPECT_DOUBLE_EQ(empty.fp_volume_ml, 64);
  EXPECT_TRUE(std::isnan(empty.dice) && std::isnan(empty.fn_volume_ml));
}

TEST(SegMetrics, AutoPetConventionsForEmptyMasks) {
  const at::Tensor empty = vol(4, 4, 4);
  at::Tensor some = vol(4, 4, 4);
  some[1][1][1] = 1;
  some[1][1][2] = 1;
  auto both_empty = eval::segmentation_metrics(empty, empty, 1.0);
  EXPECT_TRUE(std::isnan(both_empty.dice) && std::isnan(both_empty.iou) && std::isnan(both_empty.sensitivity));
  EXPECT_TRUE(std::isnan(both_empty.precision));
  EXPECT_EQ(both_empty.fp_volume_ml, 0);
  EXPECT_TRUE(std::isnan(both_empty.fn_volume_ml));
  auto false_alarm = eval::segmentation_metrics(some, empty, 1.0);  // negative case, lesion predicted
  EXPECT_TRUE(std::isnan(false_alarm.dice));
  EXPECT_EQ(false_alarm.precision, 0);
  EXPECT_EQ(false_alarm.fp_volume_ml, 2);
  EXPECT_TRUE(std::isnan(false_alarm.fn_volume_ml));
  auto missed = eval::segmentation_metrics(empty, some, 1.0);
  EXPECT_EQ(missed.dice, 0);
  EXPECT_EQ(missed.sensitivity, 0);
  EXPECT_EQ(missed.precision, 0);
  EXPECT_EQ(missed.fn_volume_ml, 2);
  EXPECT_EQ(missed.fp_volume_ml, 0);
  EXPECT_THROW(eval::segmentation_metrics(vol(4, 4, 4), vol(4, 4, 5), 1.0), Error);
  EXPECT_TRUE(std::isnan(eval::nan_mean({std::nan(""), std::nan("")})));
  EXPECT_DOUBLE_EQ(eval::nan_mean({1.0, std::nan(""), 3.0}), 2.0);
}

TEST(Classification, AccuracyAndMacroSensitivity) {
  // truth: 4 early, 2 advanced; 3 of the early and 1 advanced right.
  const std::vector<int64_t> truth{0, 0, 0, 0, 1, 1}, pred{0, 0, 0, 1, 1, 0};
  EXPECT_DOUBLE_EQ(eval::accuracy(pred, truth), 4.0 / 6);
  EXPECT_DOUBLE_EQ(eval::macro_sensitivity(pred, truth), (3.0 / 4 + 1.0 / 2) / 2);
  EXPECT_THROW(eval::accuracy({0}, {0, 1}), Error);
}

TEST(Bootstrap, QuantilesMatchNumpyLinear) {
  const std::vector<double> s{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(s, 0.025), 1.075);  // numpy.quantile([1,2,3,4], 0.025)
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(s, 0.975), 3.925);
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(s, 0.5), 2.5);
}

TEST(Bootstrap, ReproducibleFromSeedAndSensible) {
  std::vector<double> v;
  for (int i = 0; i < 40; ++i) v.push_back(0.5 + 0.01 * (i % 10));
  v.push_back(std::nan(""));  // a case where the metric is undefined
  eval::BootstrapOptions o;
  o.seed = 7;
  const auto a = eval::bootstrap_mean(v, o), b = eval::bootstrap_mean(v, o);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_EQ(a.n, 40);
  EXPECT_NEAR(a.value, 0.545, 1e-12);
  EXPECT_LT(a.lo, a.value);
  EXPECT_GT(a.hi, a.value);
  EXPECT_LT(a.hi - a.lo, 0.03);  // sd 0.0287 / sqrt(40) * 3.92 ~ 0.018
  o.seed = 8;
  const auto c = eval::bootstrap_mean(v, o);
  EXPECT_TRUE(c.lo != a.lo || c.hi != a.hi);
  const auto constant = eval::bootstrap_mean({0.7, 0.7, 0.7});
  EXPECT_DOUBLE_EQ(constant.lo, 0.7);
  EXPECT_DOUBLE_EQ(constant.hi, 0.7);
  EXPECT_EQ(constant.to_string(), "0.700 (0.700-0.700)");
}

TEST(LesionStats, KnownVolumesAndSuvs) {
  // 2 mm voxels (0.008 mL). Lesion A: a 9x9x9 cube of SUV 4 with one voxel of SUV 10 in a
  // corner; lesion B: a single voxel of SUV 8 far away. Background SUV 1.
  Volume suv, mask;
  suv.geom.size = {30, 30, 30};
  suv.geom.spacing = {2, 2, 2};
  suv.geom.origin = {-10, 20, 5};
  mask.geom = suv.geom;
  suv.data = at::ones({30, 30, 30});
  mask.data = at::zeros({30, 30, 30}, at::kByte);
  auto cube = [](const at::Tensor& t) { return t.slice(0, 2, 11).slice(1, 2, 11).slice(2, 2, 11); };
  cube(suv.data).fill_(4.0f);
  cube(mask.data).fill_(1);
  suv.data[2][2][2] = 10.0f;
  suv.data[25][25][25] = 8.0f;
  mask.data[25][25][25] = 1;
  const auto s = eval::lesion_statistics(mask, suv);
  ASSERT_EQ(s.count(), 2);
  const auto& a = s.lesions[0];  // largest first
  EXPECT_EQ(a.voxels, 729);
  EXPECT_NEAR(a.volume_ml, 729 * 0.008, 1e-9);
  EXPECT_DOUBLE_EQ(a.suv_max, 10.0);
  EXPECT_NEAR(a.suv_mean, (728 * 4.0 + 10.0) / 729, 1e-9);
  EXPECT_NEAR(a.tlg, a.suv_mean * a.volume_ml, 1e-9);
  // The sphere (radius 6.2 mm = 3 voxels, 123 voxels) fits inside the cube around its centre:
  // mean 4. Every sphere that reaches the SUV-10 corner voxel also takes at least three
  // background voxels (SUV 1) and is lower, so SUVpeak = 4.
  EXPECT_NEAR(a.suv_peak, 4.0, 1e-12);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(a.centroid_index[k], 6.0, 1e-12);
  const auto centre = suv.geom.index_to_physical({6, 6, 6});
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(a.centroid_lps[k], centre[k], 1e-9);
  const auto& b = s.lesions[1];
  EXPECT_EQ(b.voxels, 1);
  EXPECT_DOUBLE_EQ(b.suv_max, 8.0);
  EXPECT_DOUBLE_EQ(b.suv_mean, 8.0);
  EXPECT_NEAR(b.volume_ml, 0.008, 1e-12);
  EXPECT_NEAR(s.mtv_ml, 730 * 0.008, 1e-9);
  EXPECT_NEAR(s.tlg, a.tlg + b.tlg, 1e-9);
  const auto j = s.to_json();
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["lesions"].size(), 2u);
}

TEST(LesionStats, SuvPeakIsTheBestSphereMean) {
  // 10 mm voxels: the 1 mL sphere holds only its centre voxel, so SUVpeak = SUVmax.
  Volume suv, mask;
  suv.geom.size = {5, 5, 5};
  suv.geom.spacing = {10, 10, 10};
  mask.geom = suv.geom;
  suv.data = at::zeros({5, 5, 5});
  mask.data = at::zeros({5, 5, 5}, at::kByte);
  suv.data[2][2][2] = 7.0f;
  suv.data[2][2][3] = 3.0f;
  mask.data[2][2][2] = 1;
  mask.data[2][2][3] = 1;
  const auto s = eval::lesion_statistics(mask, suv);
  ASSERT_EQ(s.count(), 1);
  EXPECT_DOUBLE_EQ(s.lesions[0].suv_peak, 7.0);
  EXPECT_DOUBLE_EQ(s.lesions[0].suv_mean, 5.0);
  // Mismatched grids are refused.
  Volume other = mask;
  other.geom.spacing = {9, 10, 10};
  EXPECT_THROW(eval::lesion_statistics(other, suv), Error);
}
