// Batches: shapes per task, determinism across workers and modes, augmentation, errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/loader.h"
#include "data_test_util.h"

using namespace fratmae;

namespace {
std::shared_ptr<const data::Cache> phantom_cache() { return test::PhantomCache::get().cache; }

void expect_same(const data::Batch& a, const data::Batch& b, bool exact = true) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(at::equal(a.case_index, b.case_index));
  if (exact) {
    EXPECT_TRUE(at::equal(a.ct, b.ct));
    EXPECT_TRUE(at::equal(a.pet, b.pet));
  } else {
    EXPECT_TRUE(at::allclose(a.ct, b.ct, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(a.pet, b.pet, 1e-5, 1e-6));
  }
  EXPECT_EQ(a.seg.defined(), b.seg.defined());
  if (a.seg.defined()) EXPECT_TRUE(at::equal(a.seg, b.seg));
  EXPECT_TRUE(at::equal(a.text_ids, b.text_ids));
}
}  // namespace

TEST(Loader, PretrainingCoronalBatches) {
  auto cache = phantom_cache();
  data::LoaderConfig cfg = data::LoaderConfig::pretraining(/*batch=*/2, /*seed=*/1);
  data::BatchLoader loader(cache, data::all_cases(*cache), cfg);
  EXPECT_EQ(loader.batches_per_epoch(), 1);  // 3 cases, full batches only
  loader.start_epoch(0);
  auto b = loader.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->ct.sizes(), (std::vector<int64_t>{2, 1, 32, 48, 80}));  // (B, 1, 32, W, D)
  EXPECT_EQ(b->pet.sizes(), b->ct.sizes());
  EXPECT_EQ(b->ct.scalar_type(), at::kFloat);
  EXPECT_EQ(b->text_ids.sizes(), (std::vector<int64_t>{2, 77}));
  EXPECT_EQ(b->stage_label.sizes(), (std::vector<int64_t>{2}));
  EXPECT_LE(b->ct.abs().max().item<double>(), 1.0 * 1.1 + 0.05 + 1e-6);  // [-1, 1] with augmentation
  EXPECT_GE(b->pet.min().item<double>(), -0.05 - 1e-6);
  for (int64_t i = 0; i < 2; ++i)
    EXPECT_TRUE(at::equal(b->text_ids[i], cache->at(b->case_index[i].item<int64_t>()).text_ids));
  EXPECT_FALSE(loader.next().has_value());  // end of the epoch
}

TEST(Loader, SameBatchesWithAnyNumberOfWorkersAndResident) {
  auto cache = phantom_cache();
  data::LoaderConfig cfg = data::LoaderConfig::pretraining(1, 42);
  cfg.crop.slices = 16;
  cfg.workers = 0;
  data::BatchLoader serial(cache, data::all_cases(*cache), cfg);
  cfg.workers = 3;
  cfg.prefetch = 2;
  data::BatchLoader threaded(cache, data::all_cases(*cache), cfg);
  cfg.resident = true;  // the device path, here on the CPU
  data::BatchLoader resident(cache, data::all_cases(*cache), cfg);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    serial.start_epoch(epoch);
    threaded.start_epoch(epoch);
    resident.start_epoch(epoch);
    int n = 0;
    while (auto a = serial.next()) {
      auto b = threaded.next();
      auto c = resident.next();
      ASSERT_TRUE(b && c);
      expect_same(*a, *b);
      expect_same(*a, *c, /*exact=*/false);
      EXPECT_EQ(b->step, n);
      ++n;
    }
    EXPECT_EQ(n, 3);
    EXPECT_FALSE(threaded.next().has_value());
  }
  // Epochs differ (new permutation and crops), a fixed (epoch, step) does not.
  EXPECT_FALSE(at::equal(serial.batch_at(0, 0).ct, serial.batch_at(1, 0).ct));
  expect_same(serial.batch_at(1, 2), threaded.batch_at(1, 2));
}

TEST(Loader, DeviceGatherMatchesPerSampleCrops) {
  // The GPU path (one gather over the stacked cache), run here on a CPU-resident copy.
  auto cache = phantom_cache();
  auto resident = cache->to_device(at::kCPU);
  data::CropConfig crop;
  crop.slices = 16;
  data::AugmentConfig aug;
  aug.enabled = true;
  for (data::CropKind kind : {data::CropKind::kCoronal, data::CropKind::kAxial}) {
    crop.kind = kind;
    const std::vector<int64_t> cases{2, 0, 1};
    const std::vector<uint64_t> seeds{11, 12, 13};
    std::vector<data::SampleDraw> draws;
    for (size_t b = 0; b < cases.size(); ++b)
      draws.push_back(data::draw_sample(crop, aug, {64, 48, 80}, {}, seeds[b]));
    expect_same(data::make_batch(*cache, cases, crop, aug, seeds), data::gather_resident(*resident, cases, draws),
                /*exact=*/false);
  }
}

TEST(Loader, SegmentationNativeCropsFindLesions) {
  auto cache = phantom_cache();
  data::LoaderConfig cfg = data::LoaderConfig::segmentation(/*train=*/true, 3, 0, {16, 32, 48});
  cfg.crop.lesion_prob = 1.0;
  cfg.workers = 1;
  data::BatchLoader loader(cache, data::cases_with_mask(*cache, data::all_cases(*cache)), cfg);
  loader.start_epoch(0);
  auto b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->ct.sizes(), (std::vector<int64_t>{3, 1, 16, 32, 48}));
  ASSERT_TRUE(b->seg.defined());
  EXPECT_EQ(b->seg.scalar_type(), at::kByte);
  EXPECT_EQ(b->seg.sizes(), b->ct.sizes());
  for (int64_t i = 0; i < 3; ++i) EXPECT_GT(b->seg[i].sum().item<int64_t>(), 0) << "sample " << i;
  // Evaluation crops are central and repeat exactly.
  data::BatchLoader eval(cache, data::all_cases(*cache), data::LoaderConfig::segmentation(false, 2, 0, {16, 32, 48}));
  EXPECT_EQ(eval.batches_per_epoch(), 2);
  expect_same(eval.batch_at(0, 0), eval.batch_at(5, 0));
}

TEST(Loader, StagingCentralStacksInOrder) {
  auto cache = phantom_cache();
  data::LoaderConfig cfg = data::LoaderConfig::staging(/*train=*/false, 2);
  data::BatchLoader loader(cache, data::cases_with_stage(*cache, data::all_cases(*cache)), cfg);
  loader.start_epoch(0);
  std::vector<int64_t> seen;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->ct.size(2), 32);
    for (int64_t i = 0; i < b->size(); ++i) {
      const int64_t c = b->case_index[i].item<int64_t>();
      seen.push_back(c);
      EXPECT_EQ(b->stage_label[i].item<int64_t>(), cache->at(c).stage_label);
      // Central range of H = 64 for 32 rows every 2: h0 = (64 - 64) / 2 = 0, rows 0, 2, ..., 62.
      const at::Tensor expect = data::dequantize_int16(cache->at(c).wb_ct.slice(0, 0, 64, 2));
      EXPECT_TRUE(at::equal(b->ct[i][0], expect));
    }
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2}));
}

TEST(Loader, AugmentationFlipsLeftRightAndScalesIntensity) {
  auto cache = phantom_cache();
  data::LoaderConfig cfg = data::LoaderConfig::staging(false, 1);
  cfg.workers = 0;
  data::BatchLoader plain(cache, {0}, cfg);
  cfg.augment.enabled = true;
  cfg.augment.flip_w_prob = 1.0;
  cfg.augment.intensity_scale = 0.0;
  cfg.augment.intensity_shift = 0.0;
  data::BatchLoader flipped(cache, {0}, cfg);
  const data::Batch a = plain.batch_at(0, 0), b = flipped.batch_at(0, 0);
  EXPECT_TRUE(at::equal(a.ct.flip({3}), b.ct));  // W is dim 3 of (B, 1, h, w, d)
  EXPECT_TRUE(at::equal(a.seg.flip({3}), b.seg));
  cfg.augment.flip_w_prob = 0.0;
  cfg.augment.intensity_scale = 0.1;
  cfg.augment.intensity_shift = 0.05;
  data::BatchLoader scaled(cache, {0}, cfg);
  const data::Batch c = scaled.batch_at(0, 0);
  const double ratio = c.pet.std().item<double>() / a.pet.std().item<double>();
  EXPECT_NEAR(ratio, 1.0, 0.1 + 1e-6);
  EXPECT_FALSE(at::equal(a.pet, c.pet));
}

TEST(Loader, ConfigErrorsAreExplained) {
  auto cache = phantom_cache();
  try {
    data::BatchLoader l(cache, data::all_cases(*cache), data::LoaderConfig::pretraining(8));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos) << e.what();
  }
  data::LoaderConfig deep = data::LoaderConfig::pretraining(1);
  deep.crop.slices = 40;  // 80 rows of a 64-row volume
  EXPECT_THROW(data::BatchLoader(cache, {0}, deep), Error);
  EXPECT_THROW(data::BatchLoader(cache, {7}, data::LoaderConfig::pretraining(1)), Error);
  if (!at::hasCUDA()) {
    data::LoaderConfig pinned = data::LoaderConfig::pretraining(1);
    pinned.pin_memory = true;
    EXPECT_THROW(data::BatchLoader(cache, {0}, pinned), Error);
  }
  // A cache without native copies cannot feed segmentation.
  test::TempDir tmp;
  data::CacheSettings s = test::small_settings();
  s.native = false;
  {
    data::CacheWriter w(tmp / "c", s);
    w.add_case(test::make_case("A", 20, 16, 24));
    w.commit();
  }
  try {
    data::BatchLoader l(data::Cache::open(tmp / "c"), {0}, data::LoaderConfig::segmentation(true, 1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--no-native"), std::string::npos) << e.what();
  }
}
