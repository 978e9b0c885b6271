// bench_data: throughput of the data path (issue #4's acceptance numbers).
//
//   FRATMAE_BENCH_CACHE=DIR   use this cache (from `fratmae preprocess`); otherwise a cache of
//                             a 20-case `small` phantom cohort is built once (ITK-free path,
//                             paper settings 160 x 160 x 192) under $TMPDIR and reused
//                             (the build is incremental).
//
//   ./build/bench/bench_data                       # all
//   ./build/bench/bench_data --benchmark_filter=Coronal
//
// Reported: items_per_second = samples/s (loaders) or cases/s (preprocessing).
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "data/cache_writer.h"
#include "data/loader.h"
#include "data/phantom_source.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const data::Cache> bench_cache() {
  static std::shared_ptr<const data::Cache> cache = [] {
    fs::path dir;
    if (const char* env = std::getenv("FRATMAE_BENCH_CACHE")) {
      dir = env;
    } else {
      dir = fs::temp_directory_path() / "fratmae-bench-cache-small20";
      phantom::PhantomConfig cfg;  // small preset, autopet cohort
      cfg.cases = 20;
      data::CacheWriter w(dir, data::CacheSettings{});
      data::BuildOptions opt;
      data::build_cache(w, data::phantom_jobs(cfg), opt);
    }
    return std::const_pointer_cast<const data::Cache>(data::Cache::open(dir));
  }();
  return cache;
}

// Runs a loader for the benchmark's iterations, one batch per iteration.
void run_loader(benchmark::State& state, data::LoaderConfig cfg) {
  auto cache = bench_cache();
  data::BatchLoader loader(cache, data::all_cases(*cache), cfg);
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  int64_t samples = 0;
  for (auto _ : state) {
    auto b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    benchmark::DoNotOptimize(b->ct.data_ptr());
    samples += b->size();
  }
  state.SetItemsProcessed(samples);
  state.counters["batch"] = static_cast<double>(cfg.batch_size);
  state.counters["workers"] = cfg.workers;
}

// Pre-training: coronal stacks 32 x 160 x 192 (k = 2), augmented. Args: batch, workers.
void BM_CoronalSamples(benchmark::State& state) {
  data::LoaderConfig cfg = data::LoaderConfig::pretraining(state.range(0));
  cfg.workers = static_cast<int>(state.range(1));
  run_loader(state, cfg);
}
BENCHMARK(BM_CoronalSamples)->Args({4, 2})->Args({12, 2})->Args({4, 1})->Args({4, 0})->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The device path (the cache held in memory, one gather per batch), here on the CPU.
void BM_CoronalSamplesResident(benchmark::State& state) {
  data::LoaderConfig cfg = data::LoaderConfig::pretraining(state.range(0));
  cfg.resident = true;
  run_loader(state, cfg);
}
BENCHMARK(BM_CoronalSamplesResident)->Arg(4)->UseRealTime()->Unit(benchmark::kMillisecond);

// Segmentation: native crops 32 x 160 x 192, half centred on lesions. Args: batch, workers.
void BM_SegmentationSamples(benchmark::State& state) {
  data::LoaderConfig cfg = data::LoaderConfig::segmentation(true, state.range(0));
  cfg.workers = static_cast<int>(state.range(1));
  run_loader(state, cfg);
}
BENCHMARK(BM_SegmentationSamples)->Args({4, 2})->UseRealTime()->Unit(benchmark::kMillisecond);

// Preprocessing of one small-preset phantom case (validate, normalise, resize to
// 160 x 160 x 192, quantise, lesion voxels), excluding its generation and any file I/O.
void BM_PreprocessCase(benchmark::State& state) {
  at::set_num_threads(1);
  phantom::PhantomConfig cfg;
  cfg.cases = 1;
  const data::CaseArrays c = data::phantom_case_arrays(phantom::generate_case(cfg, 0), cfg, 0);
  const data::CacheSettings s;
  for (auto _ : state) benchmark::DoNotOptimize(data::preprocess_case(c, s, {}).wb_ct.data_ptr());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PreprocessCase)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
