// `fratmae preprocess` as a user runs it: a phantom cohort (AutoPET layout) and a folder
// from `fratmae convert`, into a cache; incremental re-runs; bad cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "core/atomic_output.h"
#include "core/folder_lock.h"
#include "data/cache.h"
#include "io/image_io.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {
bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }
}  // namespace

TEST(PreprocessCli, PhantomCohortIntoACacheIncrementally) {
  test::TempDir tmp;
  const fs::path cohort = tmp / "cohort", cache_dir = tmp / "cache";
  auto r = run_fratmae("phantom --out " + quote(cohort) + " --cases 3 --seed 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string size = " --size 64 48 80";
  r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache_dir) + size + " --workers 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "3 case(s) (3 preprocessed, 0 already current")) << r.output;

  auto cache = data::Cache::open(cache_dir);
  ASSERT_EQ(cache->size(), 3);
  const std::string csv = read_file(cohort / "metadata.csv");
  for (int64_t i = 0; i < 3; ++i) {
    const data::CachedCase& c = cache->at(i);
    SCOPED_TRACE(c.id);
    // The prompt is built from metadata.csv's row.
    const size_t row = csv.find("\n" + c.id + ",");
    ASSERT_NE(row, std::string::npos);
    std::string tracer = c.meta.tracer;
    EXPECT_TRUE(contains(csv.substr(row, 80), "," + tracer + ",")) << csv.substr(row, 80);
    std::replace(tracer.begin(), tracer.end(), '-', ' ');
    EXPECT_EQ(c.prompt.rfind("<tracer> " + tracer + " <diagnosis> " + c.meta.diagnosis, 0), 0u) << c.prompt;
    EXPECT_EQ(c.record["source"]["suv"], (cohort / c.id / "SUV.nii.gz").string());
    // The native copy maps back onto the study's own grid bit for bit.
    const Volume seg = io::read_labels(cohort / c.id / "SEG.nii.gz");
    EXPECT_TRUE(c.source_geometry.same_grid(seg.geom, 1e-6));
    const Volume back = from_canonical(c.nat_seg, c.source_geometry);
    EXPECT_TRUE(at::equal(back.data, seg.data));
    EXPECT_EQ(c.wb_ct.sizes(), (std::vector<int64_t>{64, 48, 80}));
  }
  const auto stamp = fs::last_write_time(cache_dir / "cases" / (cache->at(0).id + ".bin"));
  cache.reset();

  // A second run does no work.
  r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache_dir) + size);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "(0 preprocessed, 3 already current")) << r.output;
  EXPECT_EQ(fs::last_write_time(cache_dir / "cases" / "PHANTOM_0000.bin"), stamp);
  // Nor when the same folder is spelled differently (issue: `ph`, `./ph` and `ph/` redid every case).
  r = run_fratmae("preprocess --data " + quote(tmp.path().string() + "/./cohort/") + " --out " + quote(cache_dir) + size);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "(0 preprocessed, 3 already current")) << r.output;

  // Other settings need --overwrite.
  r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache_dir) + " --size 64 64 64");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "--overwrite")) << r.output;

  // A bad case: its CT is not on the PET grid.
  fs::create_directories(cohort / "BAD");
  fs::copy_file(cohort / "PHANTOM_0000/SUV.nii.gz", cohort / "BAD/SUV.nii.gz");
  Volume ct = io::read_image(cohort / "PHANTOM_0000/CTres.nii.gz");
  ct.geom.spacing[2] *= 2;
  io::write_image(ct, cohort / "BAD/CTres.nii.gz");
  r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache_dir) + size);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "case BAD")) << r.output;
  EXPECT_TRUE(contains(r.output, "not on the same grid")) << r.output;
  EXPECT_TRUE(contains(r.output, "--on-bad-case skip")) << r.output;
  r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache_dir) + size + " --on-bad-case skip");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "case BAD")) << r.output;
  EXPECT_TRUE(contains(r.output, "1 bad case(s) skipped")) << r.output;
  EXPECT_EQ(data::Cache::open(cache_dir)->size(), 3);
}

TEST(PreprocessCli, ConvertFolderWithMetadataCsv) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "ph") + " --cases 1 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("convert --pet " + quote(tmp / "ph/PHANTOM_0000/SUV.nii.gz") + " --ct " +
                  quote(tmp / "ph/PHANTOM_0000/CTres.nii.gz") + " --out " + quote(tmp / "studies/S1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  write_file_atomic(tmp / "meta.csv", "case,tracer,diagnosis,age,sex,stage\nS1,68Ga-PSMA,prostate cancer,70,M,\n");
  r = run_fratmae("preprocess --data " + quote(tmp / "studies") + " --metadata " + quote(tmp / "meta.csv") +
                  " --out " + quote(tmp / "cache") + " --size 64 48 80 --no-native");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto cache = data::Cache::open(tmp / "cache");
  ASSERT_EQ(cache->size(), 1);
  EXPECT_EQ(cache->at(0).id, "S1");
  EXPECT_EQ(cache->at(0).prompt, "<tracer> 68Ga PSMA <diagnosis> prostate cancer <age> 70 <sex> M");
  EXPECT_EQ(cache->at(0).stage_label, -1);
  EXPECT_FALSE(cache->at(0).nat_ct.defined());
}

TEST(PreprocessCli, MissingDataIsExplained) {
  test::TempDir tmp;
  auto r = run_fratmae("preprocess --data " + quote(tmp / "nope") + " --out " + quote(tmp / "cache"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "nope")) << r.output;
  fs::create_directories(tmp / "empty");
  r = run_fratmae("preprocess --data " + quote(tmp / "empty") + " --out " + quote(tmp / "cache"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "no cases found")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "cache/index.json"));
}

// One writer per cache: a `preprocess` into a cache another process is writing is refused.
TEST(PreprocessCli, ACacheBeingWrittenIsRefused) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "cohort") + " --cases 2 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string cmd =
      "preprocess --data " + quote(tmp / "cohort") + " --out " + quote(tmp / "cache") + " --size 32 32 48 --no-native";
  {
    const FolderLock other(tmp / "cache", "preprocess");  // held by this test process
    r = run_fratmae(cmd);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("is being written by another fratmae (pid " + std::to_string(::getpid())), std::string::npos)
        << r.output;
  }
  r = run_fratmae(cmd);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}
