// The preprocessed cache: round trip, incremental re-runs, bad cases, damaged caches.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/cache.h"
#include "data/cache_writer.h"
#include "data_test_util.h"
#include "text/clip_tokenizer.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Jobs over hand-built cases that count how often each is loaded.
std::vector<data::CaseJob> counted_jobs(std::atomic<int>& loads, const std::string& version = "v1") {
  std::vector<data::CaseJob> jobs;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "C" + std::to_string(i);
    jobs.push_back({id, id + ":" + version, [&loads, id, i] {
                      ++loads;
                      return test::make_case(id, 20 + 4 * i, 16, 24, i + 1);
                    }});
  }
  return jobs;
}

data::BuildOptions quiet(data::OnBadCase on_bad = data::OnBadCase::kStop) {
  data::BuildOptions o;
  o.show_progress = false;
  o.workers = 2;
  o.on_bad_case = on_bad;
  return o;
}

}  // namespace

TEST(Cache, RoundTrip) {
  test::TempDir tmp;
  const data::CacheSettings settings = test::small_settings();
  const data::CaseArrays a = test::make_case("B_case", 20, 16, 24, 3);
  data::CaseArrays b = test::make_case("A_case", 28, 12, 30, 0);
  b.seg = at::Tensor();  // a case without a mask
  b.sources = {{"suv", "/x/SUV.nii.gz"}};
  {
    data::CacheWriter w(tmp / "c", settings);
    w.add_case(a, "sig-a");
    w.add_case(b, "sig-b");
    EXPECT_EQ(w.commit(), 2);
  }
  auto cache = data::Cache::open(tmp / "c");
  ASSERT_EQ(cache->size(), 2);
  EXPECT_EQ(cache->ids(), (std::vector<std::string>{"A_case", "B_case"}));  // sorted by id
  const data::CachedCase& ca = cache->at(cache->find("B_case"));
  EXPECT_EQ(ca.meta.tracer, "18F-FDG");
  EXPECT_EQ(ca.meta.stage, 3);
  EXPECT_EQ(ca.stage_label, 1);
  EXPECT_EQ(ca.prompt, "<tracer> 18F FDG <diagnosis> lymphoma <age> 50 <sex> F");
  const text::ClipTokenizer tok;
  EXPECT_TRUE(at::equal(ca.text_ids, at::tensor(tok.tokenize_padded(ca.prompt), at::kLong)));
  EXPECT_EQ(ca.text_ids[0].item<int64_t>(), text::ClipTokenizer::kStartOfText);
  // The arrays are exactly what preprocessing made.
  const data::PreprocessedCase p = data::preprocess_case(a, settings, {});
  EXPECT_TRUE(at::equal(ca.wb_ct, p.wb_ct));
  EXPECT_TRUE(at::equal(ca.wb_pet, p.wb_pet));
  EXPECT_TRUE(at::equal(ca.wb_seg, p.wb_seg));
  EXPECT_TRUE(at::equal(ca.nat_ct, p.nat_ct));
  EXPECT_TRUE(at::equal(ca.nat_seg, p.nat_seg));
  EXPECT_TRUE(at::equal(ca.lesion_voxels, p.lesion_voxels));
  EXPECT_EQ(ca.wb_ct.sizes(), (std::vector<int64_t>{64, 48, 80}));
  EXPECT_EQ(ca.nat_ct.sizes(), (std::vector<int64_t>{20, 16, 24}));
  EXPECT_EQ(ca.nat_spacing, a.spacing);
  EXPECT_TRUE(ca.source_geometry == a.source_geometry);
  // Decoded native values are the normalised inputs, within one int16 step.
  const at::Tensor suv = data::dequantize_int16(ca.nat_pet);
  EXPECT_TRUE(at::allclose(suv, data::normalize_pet(a.suv, settings.normalize), 0, 1.0 / 32767));
  // The case without a mask has none.
  const data::CachedCase& cb = cache->at(cache->find("A_case"));
  EXPECT_FALSE(cb.wb_seg.defined());
  EXPECT_FALSE(cb.nat_seg.defined());
  EXPECT_EQ(cb.lesion_voxels.size(0), 0);
  EXPECT_EQ(cb.stage_label, -1);
  EXPECT_EQ(cache->stage_labels()[0].item<int64_t>(), -1);
  // The index records format, settings, sources.
  const json index = json::parse(read_file(tmp / "c/index.json"));
  EXPECT_EQ(index["format_version"], 1);
  EXPECT_EQ(index["settings"]["whole_body_size"], json({64, 48, 80}));
  EXPECT_EQ(index["settings"]["normalize"]["pet"]["transform"], "log");
  EXPECT_EQ(index["cases"][0]["source"]["suv"], "/x/SUV.nii.gz");
  EXPECT_EQ(index["cases"][0]["source"]["signature"], "sig-b");
  EXPECT_EQ(index["cases"][1]["arrays"]["wb_ct"]["dtype"], "int16");
  EXPECT_EQ(index["cases"][1]["arrays"]["nat_seg"]["dtype"], "uint8");
  // Held in memory (the path a GPU-resident cache takes), stacked.
  auto mem = cache->to_device(at::kCPU);
  ASSERT_TRUE(mem->resident());
  EXPECT_EQ(mem->wb_ct_all().sizes(), (std::vector<int64_t>{2, 64, 48, 80}));
  EXPECT_TRUE(at::equal(mem->wb_ct_all()[1], ca.wb_ct));
  EXPECT_FALSE(mem->wb_seg_all().defined());  // not every case has a mask
  EXPECT_GT(cache->bytes(), cache->bytes(false));
}

TEST(Cache, IncrementalRerunDoesNoWork) {
  test::TempDir tmp;
  std::atomic<int> loads{0};
  {
    data::CacheWriter w(tmp / "c", test::small_settings());
    const data::BuildReport r = data::build_cache(w, counted_jobs(loads), quiet());
    EXPECT_EQ(r.processed, 3);
    EXPECT_EQ(r.total_in_cache, 3);
  }
  EXPECT_EQ(loads, 3);
  const auto t0 = fs::last_write_time(tmp / "c/cases/C1.bin");
  {
    data::CacheWriter w(tmp / "c", test::small_settings());
    const data::BuildReport r = data::build_cache(w, counted_jobs(loads), quiet());
    EXPECT_EQ(r.processed, 0);
    EXPECT_EQ(r.skipped, 3);
    EXPECT_EQ(r.total_in_cache, 3);
  }
  EXPECT_EQ(loads, 3) << "a re-run with the same inputs and settings loads nothing";
  EXPECT_EQ(fs::last_write_time(tmp / "c/cases/C1.bin"), t0);
  // Changed inputs (signature) are done again; a case gone from the dataset leaves the cache.
  {
    auto jobs = counted_jobs(loads, "v2");
    jobs.pop_back();
    data::CacheWriter w(tmp / "c", test::small_settings());
    const data::BuildReport r = data::build_cache(w, jobs, quiet());
    EXPECT_EQ(r.processed, 2);
    EXPECT_EQ(r.total_in_cache, 2);
  }
  EXPECT_FALSE(fs::exists(tmp / "c/cases/C2.bin"));
  EXPECT_EQ(data::Cache::open(tmp / "c")->size(), 2);
  // Other settings: refused without --overwrite, a full rebuild with it.
  data::CacheSettings other = test::small_settings();
  other.size = {64, 64, 64};
  try {
    data::CacheWriter w(tmp / "c", other);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  data::CacheWriter w(tmp / "c", other, /*overwrite=*/true);
  EXPECT_EQ(data::build_cache(w, counted_jobs(loads, "v2"), quiet()).processed, 3);
  EXPECT_EQ(data::Cache::open(tmp / "c")->at(0).wb_ct.sizes(), (std::vector<int64_t>{64, 64, 64}));
}

TEST(Cache, BadCaseGetsAClearMessage) {
  test::TempDir tmp;
  std::atomic<int> loads{0};
  auto jobs = counted_jobs(loads);
  jobs.push_back({"NAN_CASE", "x", [] {
                    data::CaseArrays c = test::make_case("NAN_CASE", 20, 16, 24);
                    c.suv[3][4][5] = std::numeric_limits<float>::quiet_NaN();
                    return c;
                  }});
  jobs.push_back({"BQML_CASE", "x", [] {
                    data::CaseArrays c = test::make_case("BQML_CASE", 20, 16, 24);
                    c.suv *= 5000;  // activity in Bq/mL, not SUV
                    return c;
                  }});
  {
    data::CacheWriter w(tmp / "skip", test::small_settings());
    const data::BuildReport r = data::build_cache(w, jobs, quiet(data::OnBadCase::kSkip));
    EXPECT_EQ(r.processed, 3);
    EXPECT_EQ(r.failed, 2);
    EXPECT_EQ(r.total_in_cache, 3);
    ASSERT_EQ(r.failures.size(), 2u);
    for (const auto& [id, msg] : r.failures) {
      EXPECT_NE(msg.find("case " + id), std::string::npos) << msg;
      if (id == "NAN_CASE") EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
      if (id == "BQML_CASE") EXPECT_NE(msg.find("Bq/mL"), std::string::npos) << msg;
    }
  }
  data::CacheWriter w(tmp / "stop", test::small_settings());
  data::BuildOptions o = quiet(data::OnBadCase::kStop);
  o.workers = 1;
  try {
    data::build_cache(w, jobs, o);
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("case NAN_CASE"), std::string::npos) << m;
    EXPECT_NE(m.find("--on-bad-case skip"), std::string::npos) << m;
  }
  // What was finished before the stop is kept for the next run.
  auto cache = data::Cache::open(tmp / "stop");
  EXPECT_EQ(cache->size(), 3);
}

TEST(Cache, DamagedOrMissingCacheIsExplained) {
  test::TempDir tmp;
  try {
    data::Cache::open(tmp / "none");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("fratmae preprocess"), std::string::npos) << e.what();
  }
  {
    data::CacheWriter w(tmp / "c", test::small_settings());
    w.add_case(test::make_case("A", 20, 16, 24));
    w.commit();
  }
  fs::resize_file(tmp / "c/cases/A.bin", 1000);
  try {
    data::Cache::open(tmp / "c");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  // A folder with other things in it is not taken for a cache.
  fs::create_directories(tmp / "other");
  write_file_atomic(tmp / "other/notes.txt", "x");
  EXPECT_THROW(data::CacheWriter(tmp / "other", test::small_settings()), FileError);
}

TEST(Cache, PhantomCohortInMemory) {
  auto& pc = test::PhantomCache::get();
  const data::Cache& cache = *pc.cache;
  ASSERT_EQ(cache.size(), 3);
  for (int64_t i = 0; i < cache.size(); ++i) {
    const data::CachedCase& c = cache.at(i);
    EXPECT_EQ(c.id.rfind("HODGKIN_", 0), 0u);
    EXPECT_NE(c.prompt.find("<diagnosis> hodgkin lymphoma <age> "), std::string::npos) << c.prompt;
    EXPECT_GE(c.stage_label, 0);
    EXPECT_EQ(c.nat_ct.sizes(), (std::vector<int64_t>{64, 104, 200}));  // the small preset's grid
    EXPECT_GT(c.lesion_voxels.size(0), 0);
    EXPECT_EQ(c.record["source"]["phantom"]["seed"], 3);
  }
}

// An index that points arrays past their file (sizes that overflow, negative dimensions), a
// case file outside the cache folder, arrays of the wrong size or type, lesion voxels outside
// their volume or text ids outside CLIP's vocabulary: refused when the cache is opened, before a
// reader touches the bytes. The starting index is the cache_index fuzz target's seed.
TEST(Cache, HostileIndexEntriesAreRefused) {
  test::TempDir tmp;
  const fs::path dir = tmp / "cache";
  fs::create_directories(dir / "cases");
  std::string bytes(4096, '\0');
  const int32_t voxels[6] = {0, 0, 0, 1, 2, 100};  // lesion_voxels at offset 960: (0,0,0), then (1,2,100)
  std::memcpy(bytes.data() + 960, voxels, sizeof voxels);
  write_file_atomic(dir / "cases" / "A.bin", bytes);
  const json seed = json::parse(read_file(test::test_path("fuzz_corpus") / "cache_index" / "one_case.json"));
  auto open_with = [&](const std::function<void(json&)>& change) {
    json index = seed;
    index["cases"][0]["arrays"]["lesion_voxels"]["shape"] = {1, 3};
    change(index["cases"][0]);
    write_file_atomic(dir / "index.json", index.dump());
    return data::Cache::open(dir);
  };
  auto refused = [&](const std::function<void(json&)>& change, const std::string& said) {
    try {
      open_with(change);
      ADD_FAILURE() << "opened; expected: " << said;
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(said), std::string::npos) << e.what();
    }
  };
  EXPECT_EQ(open_with([](json&) {})->size(), 1);
  refused([](json& c) { c["arrays"]["nat_ct"]["shape"] = {int64_t{1} << 31, int64_t{1} << 31, 4}; }, "array nat_ct lies outside the file");
  refused([](json& c) { c["arrays"]["nat_ct"]["shape"] = {-4, -4, 8}; }, "array nat_ct lies outside the file");
  refused([](json& c) { c["arrays"]["wb_pet"]["offset"] = 4000; }, "array wb_pet lies outside the file");
  refused([](json& c) { c["file"] = "../cache/cases/A.bin"; }, "is not inside the cache folder");
  refused([&](json& c) { c["file"] = (fs::absolute(dir) / "cases" / "A.bin").string(); }, "is not inside the cache folder");
  refused([](json& c) { c["arrays"]["wb_ct"]["shape"] = {4, 4, 2}; }, "wb_ct is not a Short volume of the cache's whole-body size");
  refused([](json& c) { c["arrays"]["nat_pet"]["dtype"] = "uint8"; }, "native-resolution arrays differ");
  refused([](json& c) { c["arrays"]["lesion_voxels"]["shape"] = {2, 3}; }, "a lesion voxel lies outside its volume");
  refused([](json& c) { c["text_ids"][5] = 50000; }, "outside CLIP's vocabulary");
  refused([](json& c) { c["stage_label"] = 7; }, "stage_label must be -1, 0 or 1");
}

// A first run killed before it wrote index.json leaves only case files (and staged temporary
// files) in cases/: the next run builds the cache there (found by scripts/kill-soak.sh, which
// saw the rerun refused as "a non-empty folder ... not a fratmae cache"). A folder with anything
// else stays refused.
TEST(Cache, AFolderAKilledFirstRunLeftIsBuiltAgain) {
  test::TempDir tmp;
  fs::create_directories(tmp / "c/cases");
  write_file_atomic(tmp / "c/cases/C1.bin", "half a case");
  write_file_atomic(tmp / "c/cases/.fratmae-tmp-4999999-C2.bin", "staged by a dead process");
  // Killed while staging its index.json (pid 4999999: above Linux's largest pid, 2^22, so no process).
  write_file_atomic(tmp / "c/.fratmae-tmp-4999999-index.json", "{\"format\": \"fratmae-ca");
  std::atomic<int> loads{0};
  {
    data::CacheWriter w(tmp / "c", test::small_settings());
    const data::BuildReport r = data::build_cache(w, counted_jobs(loads), quiet());
    EXPECT_EQ(r.processed, 3);
    EXPECT_EQ(r.total_in_cache, 3);
  }
  EXPECT_FALSE(fs::exists(tmp / "c/cases/.fratmae-tmp-4999999-C2.bin"));
  EXPECT_FALSE(fs::exists(tmp / "c/.fratmae-tmp-4999999-index.json"));
  auto cache = data::Cache::open(tmp / "c");
  ASSERT_EQ(cache->size(), 3);
  EXPECT_GT(cache->at(1).wb_pet.numel(), 0);
  // Somebody's own files beside the case files: not taken for a cache.
  fs::create_directories(tmp / "d/cases");
  write_file_atomic(tmp / "d/cases/C1.bin", "x");
  write_file_atomic(tmp / "d/cases/notes.txt", "mine");
  try {
    data::CacheWriter w(tmp / "d", test::small_settings());
    FAIL() << "a folder with other files was taken for a cache";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("not a fratmae cache"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(tmp / "d/cases/notes.txt"));
}
