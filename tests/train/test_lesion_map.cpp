// Staging from a segmentation: a segmentation run's predicted lesions replace each case's PET.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/normalize.h"
#include "data/phantom_source.h"
#include "infer/cache_eval.h"
#include "train/finetuner.h"
#include "train/lesion_map.h"
#include "test_util.h"
#include "train_test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

TEST(LesionMap, ThePetBecomesTheRunsPredictedLesions) {
  test::TempDir tmp;
  test::write_phantom_cache(tmp / "cache", "hodgkin", 6, 31, {32, 32, 48}, /*native=*/true);
  train::FinetuneConfig c;
  c.task = "seg";
  c.cache = (tmp / "cache").string();
  c.out = (tmp / "seg").string();
  c.preset = "tiny";
  c.steps = 2;
  c.batch = 2;
  c.lr = 1e-3;
  c.feature_size = 4;
  c.test_fraction = 0.2;
  c.val_fraction = 0.0;
  c.val_every = -1;
  c.workers = 1;
  c.overlap = 0.0;
  c.evaluate = false;
  train::finetune(c, false);

  phantom::PhantomConfig pc;
  pc.cases = 2;
  pc.seed = 32;
  pc.cohort = "hodgkin";
  const auto plain = data::phantom_jobs(pc);
  const auto jobs = train::lesion_map_jobs(data::phantom_jobs(pc), tmp / "seg");
  ASSERT_EQ(jobs.size(), plain.size());
  const data::CaseArrays a = plain[0].load(), b = jobs[0].load();
  EXPECT_EQ(jobs[0].id, plain[0].id);
  EXPECT_NE(jobs[0].signature, plain[0].signature);  // a cache of lesion maps is not one of images
  EXPECT_NE(jobs[0].signature.find("weights_sha256"), std::string::npos);
  EXPECT_TRUE(at::equal(a.ct, b.ct));
  EXPECT_TRUE(at::equal(a.seg, b.seg));
  EXPECT_EQ(a.meta.stage, b.meta.stage);
  // The PET is the model's mask, as its own sliding windows make it: 10 inside, 0.1 elsewhere.
  auto dm = train::load_finetuned(tmp / "seg");
  const auto norm = data::NormalizeConfig{};
  infer::SlidingWindowConfig sw;
  sw.overlap = 0.0;
  sw.window = dm.seg->cfg.input;
  sw.body_only = true;
  sw.body_level = data::normalize_ct(at::full({1}, -500.0), norm).item<double>();
  const at::Tensor mask =
      infer::segment_volume(dm.seg, data::dequantize_int16(data::quantize_int16(data::normalize_ct(a.ct, norm))),
                            data::dequantize_int16(data::quantize_int16(data::normalize_pet(a.suv, norm))), sw,
                            torch::Device("cpu"), true)
          .mask;
  EXPECT_TRUE(at::equal(b.suv.eq(train::kLesionMapSuv), mask.to(at::kBool)));
  EXPECT_TRUE(at::equal(b.suv.ne(train::kLesionMapSuv), b.suv.eq(train::kLesionMapBackground)));
  // A staging run is not a segmentation model.
  c.task = "stage";
  c.out = (tmp / "stage").string();
  train::finetune(c, false);
  EXPECT_THROW(train::lesion_map_jobs(data::phantom_jobs(pc), tmp / "stage"), FileError);
}
