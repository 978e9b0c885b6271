// `fratmae preprocess` as a user runs it: a phantom cohort (AutoPET layout) and a folder
// from `fratmae convert`, into a cache; incremental re-runs; bad cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

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
                  " --out " + quote(tmp / "cache") + " --size 64 48 80 --no-native --pet-resize max");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto cache = data::Cache::open(tmp / "cache");
  ASSERT_EQ(cache->size(), 1);
  EXPECT_EQ(cache->settings().pet_resize, "max");  // recorded, and so used again by `predict`
  EXPECT_EQ(cache->at(0).id, "S1");
  EXPECT_EQ(cache->at(0).prompt, "<tracer> 68Ga PSMA <diagnosis> prostate cancer <age> 70 <sex> M");
  EXPECT_EQ(cache->at(0).stage_label, -1);
  EXPECT_FALSE(cache->at(0).nat_ct.defined());
  r = run_fratmae("preprocess --data " + quote(tmp / "studies") + " --metadata " + quote(tmp / "meta.csv") +
                  " --out " + quote(tmp / "cache2") + " --pet-resize cubic");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "--pet-resize")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "cache2"));
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

namespace {
// A cache's index records and its case files' bytes, what must not depend on how it was made.
struct CacheContent {
  nlohmann::json settings, cases;
  std::map<std::string, std::string> files;  // name under the folder -> bytes
};
CacheContent cache_content(const fs::path& dir) {
  const nlohmann::json index = nlohmann::json::parse(read_file(dir / "index.json"));
  CacheContent c{index["settings"], index["cases"], {}};
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "index.json" && e.path().filename() != FolderLock::kFileName)
      c.files[fs::relative(e.path(), dir).string()] = read_file(e.path());
  return c;
}
}  // namespace

// Sharded preprocessing (a SLURM array, torchrun, or --shard by hand): three processes at once
// into one folder make the cache one process makes, record for record and byte for byte; the
// last to finish merges. Shards of different jobs wait for `preprocess --merge`.
TEST(PreprocessCli, ThreeShardsMakeTheCacheOneProcessMakes) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "cohort") + " --cases 7 --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string args = " -q preprocess --data " + quote(tmp / "cohort") + " --size 32 32 48 --workers 1 --out ";
  r = run_fratmae(args + quote(tmp / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CacheContent one = cache_content(tmp / "one");
  ASSERT_EQ(one.cases.size(), 7u);

  std::string shards;
  for (int i = 0; i < 3; ++i)
    shards += test::binary() + args + quote(tmp / "three") + " --shard " + std::to_string(i) + "/3 & p" +
              std::to_string(i) + "=$!; ";
  r = test::run_command(shards + "wait $p0 && wait $p1 && wait $p2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CacheContent three = cache_content(tmp / "three");
  EXPECT_EQ(three.settings, one.settings);
  EXPECT_EQ(three.cases, one.cases);
  EXPECT_EQ(three.files.size(), one.files.size());
  EXPECT_TRUE(three.files == one.files) << "a case file differs from the one-process cache's";
  EXPECT_EQ(data::Cache::open(tmp / "three")->size(), 7);

  // The environment's shard (WORLD_SIZE/RANK), shards of two jobs: not merged until --merge.
  r = test::run_command("TORCHELASTIC_RUN_ID=a WORLD_SIZE=2 RANK=0 " + test::binary() + args + quote(tmp / "two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_command("TORCHELASTIC_RUN_ID=b WORLD_SIZE=2 RANK=1 " + test::binary() + args + quote(tmp / "two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "two" / "index.json"));
  EXPECT_TRUE(fs::exists(tmp / "two" / "index-0-of-2.json"));
  r = run_fratmae("preprocess --merge --out " + quote(tmp / "two"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "7 case(s) merged from 2 shards")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "two" / "index-0-of-2.json"));
  EXPECT_EQ(cache_content(tmp / "two").cases, one.cases);

  // Nothing to merge, an unfinished sharding, a shard outside the count: errors, nothing written.
  r = run_fratmae("preprocess --merge --out " + quote(tmp / "one"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "no shards to merge")) << r.output;
  r = run_fratmae(args + quote(tmp / "part") + " --shard 1/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "part" / "index.json"));
  r = run_fratmae("preprocess --merge --out " + quote(tmp / "part"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "shard 0/2 is missing")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "part" / "index.json"));
  r = run_fratmae(args + quote(tmp / "bad") + " --shard 3/3");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "--shard")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
}

// A cache rebuilt where there is no room (a file-size limit, as a full disk): a clear error
// naming the case file; the cache still lists and reads every case it had.
TEST(PreprocessCli, AFullDiskLeavesTheCacheReadable) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "cohort") + " --cases 2 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string cmd = " -q preprocess --data " + quote(tmp / "cohort") + " --out " + quote(tmp / "cache") +
                          " --size 32 32 48 --workers 1";
  r = run_fratmae(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CacheContent before = cache_content(tmp / "cache");
  r = test::run_command("prlimit --fsize=8192 " + test::binary() + cmd + " --overwrite");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, ".bin: cannot write (File too large)")) << r.output;
  const CacheContent after = cache_content(tmp / "cache");
  EXPECT_EQ(after.cases, before.cases);
  EXPECT_TRUE(after.files == before.files);
  auto cache = data::Cache::open(tmp / "cache");
  ASSERT_EQ(cache->size(), 2);
  EXPECT_GT(cache->at(1).wb_pet.numel(), 0);
  // With --on-bad-case skip a full disk still stops the run: it is not a fault of the case, and
  // skipping every case after it would leave a cache silently short of cases.
  r = test::run_command("prlimit --fsize=8192 " + test::binary() + cmd + " --overwrite --on-bad-case skip");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, ".bin: cannot write (File too large)")) << r.output;
  EXPECT_FALSE(contains(r.output, "skipping")) << r.output;
  EXPECT_EQ(cache_content(tmp / "cache").cases, before.cases);
}

// AutoPET exactly as distributed: AutoPET III's nnU-Net folder (case ids with spaces, channel
// names in dataset.json, fdg/psma metadata tables) and AutoPET I/II's TCIA tree with TCIA's
// clinical CSV, both from phantom studies renamed to the published names.
TEST(PreprocessCli, AutopetAsDistributed) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "ph") + " --cases 2 --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string study = "02-04-2006-NA-PET-CT Ganzkoerper  primaer mit KM-43376";
  const std::string fdg = "fdg_2ce074c2ea_" + study, psma = "psma_0a1b2c3d4e5f6789_2019-08-21";
  const fs::path d = tmp / "Dataset221_AutoPETIII";
  fs::create_directories(d / "imagesTr");
  fs::create_directories(d / "labelsTr");
  const std::pair<std::string, std::string> cases[] = {{fdg, "PHANTOM_0000"}, {psma, "PHANTOM_0001"}};
  for (const auto& [id, src] : cases) {
    fs::copy_file(tmp / "ph" / src / "CTres.nii.gz", d / "imagesTr" / (id + "_0000.nii.gz"));
    fs::copy_file(tmp / "ph" / src / "SUV.nii.gz", d / "imagesTr" / (id + "_0001.nii.gz"));
    fs::copy_file(tmp / "ph" / src / "SEG.nii.gz", d / "labelsTr" / (id + ".nii.gz"));
  }
  write_file_atomic(d / "dataset.json",
                    R"({"channel_names": {"0": "CT", "1": "PET"}, "labels": {"background": 0, "tumor": 1},)"
                    R"( "numTraining": 2, "file_ending": ".nii.gz"})");
  const std::string loc = "./FDG-PET-CT-Lesions/PETCT_2ce074c2ea/" + study;
  write_file_atomic(d / "fdg_metadata.csv",
                    "\xEF\xBB\xBFSubject ID,Study UID,Study Date,Modality,File Location,diagnosis,age,sex\r\n"
                    "PETCT_2ce074c2ea,1.2.3,2/4/2006,CT,\"" + loc + "/2.000000-CT-1\",MELANOMA,063Y,M\r\n"
                    "PETCT_2ce074c2ea,1.2.3,2/4/2006,PT,\"" + loc + "/3.000000-PET-2\",MELANOMA,063Y,M\r\n");
  write_file_atomic(d / "psma_metadata.csv",
                    "Subject ID,Study Date,age,pet_radionuclide\nPSMA_0a1b2c3d4e5f6789,2019-08-21,71,68Ga\n");
  const std::string size = " --size 32 32 48";
  r = run_fratmae("preprocess --data " + quote(d) + " --out " + quote(tmp / "cache3") + size);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto cache = data::Cache::open(tmp / "cache3");
  ASSERT_EQ(cache->size(), 2);
  EXPECT_EQ(cache->at(0).id, fdg);
  EXPECT_EQ(cache->at(0).prompt, "<tracer> 18F FDG <diagnosis> melanoma <age> 63 <sex> M");
  EXPECT_EQ(cache->at(1).id, psma);
  EXPECT_EQ(cache->at(1).prompt, "<tracer> 68Ga PSMA <diagnosis> prostate cancer <age> 71 <sex> M");
  // The label became the lesion mask, on the study's own grid.
  const Volume seg = io::read_labels(d / "labelsTr" / (psma + ".nii.gz"));
  EXPECT_TRUE(at::equal(from_canonical(cache->at(1).nat_seg, cache->at(1).source_geometry).data, seg.data));
  cache.reset();

  // A label that is not 0/1 is refused, naming the case.
  Volume bad = io::read_labels(d / "labelsTr" / (fdg + ".nii.gz"));
  bad.data.view(-1)[0] = 2;
  io::write_image(bad, d / "labelsTr" / (fdg + ".nii.gz"));
  r = run_fratmae("preprocess --data " + quote(d) + " --out " + quote(tmp / "cache3b") + size);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, fdg)) << r.output;
  EXPECT_TRUE(contains(r.output, "values other than 0 and 1")) << r.output;

  // AutoPET I/II: the TCIA tree and TCIA's clinical CSV (one row per series).
  const fs::path t = tmp / "FDG-PET-CT-Lesions";
  fs::create_directories(t / "PETCT_2ce074c2ea" / study);
  for (const char* f : {"CTres.nii.gz", "SUV.nii.gz", "SEG.nii.gz"})
    fs::copy_file(tmp / "ph/PHANTOM_0000" / f, t / "PETCT_2ce074c2ea" / study / f);
  fs::copy_file(d / "fdg_metadata.csv", t / "Clinical Metadata FDG PET_CT Lesions.csv");
  r = run_fratmae("preprocess --data " + quote(t) + " --out " + quote(tmp / "cache12") + size);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  cache = data::Cache::open(tmp / "cache12");
  ASSERT_EQ(cache->size(), 1);
  EXPECT_EQ(cache->at(0).id, "PETCT_2ce074c2ea/" + study);
  EXPECT_EQ(cache->at(0).prompt, "<tracer> 18F FDG <diagnosis> melanoma <age> 63 <sex> M");

  // A dataset.json that does not say which channel is which.
  write_file_atomic(d / "dataset.json", R"({"channel_names": {"0": "A", "1": "B"}})");
  r = run_fratmae("preprocess --data " + quote(d) + " --out " + quote(tmp / "cache3c") + size);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "dataset.json")) << r.output;
  EXPECT_TRUE(contains(r.output, "which channel is CT and which PET")) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "cache3c/index.json"));
}
