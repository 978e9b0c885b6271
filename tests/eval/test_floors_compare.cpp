// Reference floors (threshold segmentations), lesion detection by size and the paired
// comparisons of settings over seeds, against hand-made volumes and hand-computed statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/classification.h"
#include "eval/compare.h"
#include "eval/detection.h"
#include "eval/reference_floors.h"

using namespace fratmae;
using at::indexing::Slice;

namespace {

// A 12^3 CT: air around a 8^3 body of water, with an air pocket (a "lung") inside it.
at::Tensor phantom_ct() {
  at::Tensor ct = at::full({12, 12, 12}, -1000.0f);
  ct.index_put_({Slice(2, 10), Slice(2, 10), Slice(2, 10)}, 0.0f);
  ct.index_put_({Slice(4, 6), Slice(4, 6), Slice(4, 6)}, -850.0f);
  return ct;
}

}  // namespace

TEST(ReferenceFloors, BodyIsEverythingButTheAirAroundThePatient) {
  const at::Tensor body = eval::body_mask(phantom_ct());
  EXPECT_EQ(body.sum().item<int64_t>(), 8 * 8 * 8);  // the inner air pocket stays inside
  EXPECT_EQ(body[4][4][4].item<int>(), 1);
  EXPECT_EQ(body[0][0][0].item<int>(), 0);
  EXPECT_EQ(body[1][6][6].item<int>(), 0);
  // No air at all: all body.
  EXPECT_EQ(eval::body_mask(at::zeros({3, 3, 3})).sum().item<int64_t>(), 27);
  EXPECT_THROW(eval::body_mask(at::zeros({3, 3})), Error);
}

TEST(ReferenceFloors, FixedThresholdsCountOnlyTheBody) {
  at::Tensor suv = at::full({12, 12, 12}, 1.0f);
  suv[3][3][3] = 3.0f;   // in the body, between the thresholds
  suv[8][8][8] = 5.0f;   // in the body, above both
  suv[0][0][0] = 9.0f;   // outside the body (air): never counted
  const at::Tensor body = eval::body_mask(phantom_ct());
  EXPECT_EQ(eval::floor_segmentation("suv2.5", suv, body).sum().item<int64_t>(), 2);
  EXPECT_EQ(eval::floor_segmentation("suv4.0", suv, body).sum().item<int64_t>(), 1);
  EXPECT_EQ(eval::floor_segmentation("suv4.0", suv, body)[8][8][8].item<int>(), 1);
  // Without a body mask the air voxel counts too.
  EXPECT_EQ(eval::floor_segmentation("suv2.5", suv, at::Tensor()).sum().item<int64_t>(), 3);
  EXPECT_THROW(eval::floor_segmentation("suv3", suv, body), Error);
  EXPECT_THROW(eval::floor_segmentation("suv2.5", suv, at::ones({2, 2, 2}, at::kByte)), Error);
}

TEST(ReferenceFloors, FortyOnePercentIsCutPerRegionAtItsOwnMaximum) {
  at::Tensor suv = at::full({12, 12, 12}, 0.5f);
  // Region A: a hot core 20 in a rim of 3 (cut at 8.2: only the core remains).
  suv.index_put_({Slice(3, 6), Slice(3, 6), Slice(3, 6)}, 3.0f);
  suv[4][4][4] = 20.0f;
  // Region B, apart from A: SUV 3 and 4 (max 4 < 6.1: cut 1.64 < 2.5, the whole region stays).
  suv.index_put_({Slice(8, 10), Slice(8, 10), Slice(8, 9)}, 3.0f);
  suv[9][9][8] = 4.0f;
  const at::Tensor m = eval::floor_segmentation("suvmax41", suv, at::Tensor());
  EXPECT_EQ(m.index({Slice(3, 6), Slice(3, 6), Slice(3, 6)}).sum().item<int64_t>(), 1);
  EXPECT_EQ(m[4][4][4].item<int>(), 1);
  EXPECT_EQ(m.index({Slice(8, 10), Slice(8, 10), Slice(8, 9)}).sum().item<int64_t>(), 4);
  EXPECT_EQ(m.sum().item<int64_t>(), 5);
  // A global 41% cut (at 8.2) would have lost region B entirely.
  EXPECT_EQ(suv.ge(0.41 * 20).sum().item<int64_t>(), 1);
}

TEST(LesionDetection, ALesionIsFoundByOneVoxelAndBinnedByVolume) {
  at::Tensor truth = at::zeros({10, 10, 10}, at::kByte), pred = at::zeros_like(truth);
  truth.index_put_({Slice(0, 2), Slice(0, 2), Slice(0, 2)}, 1);  // 8 voxels
  truth[7][7][7] = 1;                                             // 1 voxel, missed
  pred[1][1][1] = 1;
  pred[5][0][0] = 1;  // a false positive changes nothing here
  const auto d = eval::lesion_detection(pred, truth, 0.5);  // 0.5 mL voxels
  ASSERT_EQ(d.size(), 2u);
  EXPECT_DOUBLE_EQ(d[0].volume_ml, 4.0);
  EXPECT_TRUE(d[0].detected);
  EXPECT_DOUBLE_EQ(d[1].volume_ml, 0.5);
  EXPECT_FALSE(d[1].detected);
  const nlohmann::json bins = eval::detection_by_size(d);
  ASSERT_EQ(bins.size(), 4u);
  EXPECT_EQ(bins[0]["lesions"], 0);
  EXPECT_TRUE(bins[0]["sensitivity"].is_null());
  EXPECT_EQ(bins[1]["bin"], "0.5-2 mL");  // 0.5 mL lies in [0.5, 2)
  EXPECT_EQ(bins[1]["lesions"], 1);
  EXPECT_EQ(bins[1]["detected"], 0);
  EXPECT_EQ(bins[2]["lesions"], 1);
  EXPECT_DOUBLE_EQ(bins[2]["sensitivity"].get<double>(), 1.0);
  EXPECT_THROW(eval::lesion_detection(pred, at::zeros({2, 2, 2}, at::kByte), 1.0), Error);
}

TEST(Compare, SettingIsTheSeedMeanWithItsSpread) {
  // Two seeds over four cases; case 3 undefined (NaN) for both.
  const double nan = std::nan("");
  const auto st = eval::mean_over_cases({{0.2, 0.4, 0.6, nan}, {0.4, 0.6, 0.8, nan}});
  eval::BootstrapOptions bo;
  bo.samples = 200;
  const auto s = eval::summarize_setting(4, st, bo);
  ASSERT_EQ(s.per_seed.size(), 2u);
  EXPECT_NEAR(s.per_seed[0], 0.4, 1e-12);
  EXPECT_NEAR(s.per_seed[1], 0.6, 1e-12);
  EXPECT_NEAR(s.mean.value, 0.5, 1e-12);
  EXPECT_NEAR(s.seed_sd, std::sqrt(0.02), 1e-12);  // sample SD of {0.4, 0.6}
  EXPECT_LE(s.mean.lo, 0.5);
  EXPECT_GE(s.mean.hi, 0.5);
  EXPECT_EQ(s.to_json()["per_seed"].size(), 2u);
}

TEST(Compare, PairedDifferenceCancelsWhatTheCasesShare) {
  // B varies a lot from case to case; A = B + 0.05 on every case. Two separate intervals
  // overlap widely, the paired one sits tightly on 0.05.
  std::vector<double> b, a;
  for (int i = 0; i < 40; ++i) {
    b.push_back(0.1 + 0.8 * ((i * 37) % 40) / 40.0);
    a.push_back(b.back() + 0.05);
  }
  eval::BootstrapOptions bo;
  bo.samples = 500;
  const auto sa = eval::mean_over_cases({a}), sb = eval::mean_over_cases({b});
  const auto ia = eval::summarize_setting(40, sa, bo).mean, ib = eval::summarize_setting(40, sb, bo).mean;
  EXPECT_LT(ia.lo, ib.hi);  // the separate intervals overlap
  const eval::Interval d = eval::paired_difference(40, sa, sb, bo);
  EXPECT_NEAR(d.value, 0.05, 1e-12);
  EXPECT_NEAR(d.lo, 0.05, 1e-9);
  EXPECT_NEAR(d.hi, 0.05, 1e-9);
  EXPECT_EQ(eval::verdict(d), "above 0");
  EXPECT_EQ(eval::verdict(eval::paired_difference(40, sb, sa, bo)), "below 0");
  // Noise in both directions: includes 0.
  std::vector<double> c = b;
  for (size_t i = 0; i < c.size(); ++i) c[i] += (i % 2 ? 0.05 : -0.05);
  EXPECT_EQ(eval::verdict(eval::paired_difference(40, eval::mean_over_cases({c}), sb, bo)), "includes 0");
  // A bound that is 0 up to rounding (a resample with equal means, summed in another order) is 0.
  eval::Interval r;
  r.value = 0.094, r.lo = 5.4123372450477644e-17, r.hi = 0.194;
  EXPECT_EQ(eval::verdict(r), "includes 0");
  r.lo = -0.2, r.hi = -5e-17;
  EXPECT_EQ(eval::verdict(r), "includes 0");
  r.lo = 1e-6;  // a real, if small, lower bound
  r.hi = 0.2;
  EXPECT_EQ(eval::verdict(r), "above 0");
}

TEST(Compare, ClassificationOverSeedsAndCases) {
  // Truth 0,0,1,1; seed 0 right on all, seed 1 calls everything 0.
  const auto st = eval::classification_statistic({{0, 0, 1, 1}, {0, 0, 0, 0}}, {0, 0, 1, 1}, eval::accuracy);
  const auto s = eval::summarize_setting(4, st, {});
  EXPECT_NEAR(s.per_seed[0], 1.0, 1e-12);
  EXPECT_NEAR(s.per_seed[1], 0.5, 1e-12);
  EXPECT_NEAR(s.mean.value, 0.75, 1e-12);
  const auto ms = eval::classification_statistic({{0, 0, 0, 0}}, {0, 0, 1, 1}, eval::macro_sensitivity);
  EXPECT_NEAR(eval::summarize_setting(4, ms, {}).mean.value, 0.5, 1e-12);
  EXPECT_THROW(eval::classification_statistic({{0, 1}}, {0, 0, 1}, eval::accuracy), Error);
  EXPECT_THROW(eval::mean_over_cases({{0.1, 0.2}, {0.1}}), Error);
}
