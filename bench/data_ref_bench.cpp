// data_ref_bench: fratmae's side of bench/data_vs_pytorch.sh, the data path and the
// preprocessing of one case measured against the plain-PyTorch reference
// (bench/reference/data_ref.py), which runs the same protocol on the same inputs.
//
//   data_ref_bench cache --out DIR [--cases 20]
//       the phantom cohort (`small` preset, `autopet`, seed 0) preprocessed into a fratmae
//       cache at DIR with the paper's settings (160 x 160 x 192, native copies); incremental,
//       as `fratmae preprocess` (a current cache is kept as it is).
//   data_ref_bench preprocess [--cases 4] [--reps 3] [--warmup 1] [--threads N] [--dump DIR]
//       data::preprocess_case on phantom cases 0..cases-1 (validation, normalisation, resize to
//       160 x 160 x 192, int16 quantisation, native copy, lesion voxels; no file I/O, no
//       tokenizer), `warmup` untimed passes over the cases then `reps` timed ones. With --dump,
//       DIR/in_<k>.safetensors holds case k's raw arrays (ct, suv, seg, spacing) and
//       DIR/out_<k>.safetensors fratmae's result, for the reference's parity check.
//   data_ref_bench loader --cache DIR [--batch 4] [--workers 2] [--threads N] [--min-time 2]
//                         [--min-batches 20] [--warmup-epochs 2] [--seed 0] [--dump FILE]
//       data::BatchLoader with LoaderConfig::pretraining (random coronal stacks 32 x 160 x 192
//       of 64 rows, k = 2, flips, intensity scale/shift) over every case of the cache:
//       warm-up epochs untimed, then batches until both minima are reached (new epochs as
//       needed, as a training loop would). --dump: the first batch as safetensors (ct, pet,
//       seg, text_ids, stage_label, case_index), for `data_ref.py sampler-check`.
//
// Each mode prints one line starting with `fratmae`; data_vs_pytorch.sh reads the numbers.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "data/cache_writer.h"
#include "data/loader.h"
#include "data/phantom_source.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void usage() {
  std::cerr << "usage: data_ref_bench cache --out DIR [--cases 20]\n"
               "       data_ref_bench preprocess [--cases 4] [--reps 3] [--warmup 1] [--threads N] [--dump DIR]\n"
               "       data_ref_bench loader --cache DIR [--batch 4] [--workers 2] [--threads N] [--min-time 2]\n"
               "                             [--min-batches 20] [--warmup-epochs 2] [--seed 0] [--dump FILE]\n";
  std::exit(2);
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

phantom::PhantomConfig cohort(int64_t cases) {
  phantom::PhantomConfig cfg;  // small preset, autopet cohort, seed 0 (as bench_data)
  cfg.cases = cases;
  return cfg;
}

int run_cache(const fs::path& out, int64_t cases) {
  const auto t0 = Clock::now();
  data::CacheWriter w(out, data::CacheSettings{});
  data::BuildOptions opt;
  opt.show_progress = false;
  const data::BuildReport r = data::build_cache(w, data::phantom_jobs(cohort(cases)), opt);
  std::printf("fratmae cache %s: %lld cases (%lld preprocessed now, %lld kept) in %.1f s\n", out.string().c_str(),
              static_cast<long long>(r.total_in_cache), static_cast<long long>(r.processed),
              static_cast<long long>(r.skipped), seconds_since(t0));
  return r.failed == 0 ? 0 : 1;
}

int run_preprocess(int64_t n, int64_t reps, int64_t warmup, const fs::path& dump) {
  const phantom::PhantomConfig cfg = cohort(n);
  std::vector<data::CaseArrays> cases;
  for (int64_t i = 0; i < n; ++i) cases.push_back(data::phantom_case_arrays(phantom::generate_case(cfg, i), cfg, i));
  const data::CacheSettings settings;  // the paper's: 160 x 160 x 192, log PET, native copies

  if (!dump.empty()) {
    fs::create_directories(dump);
    for (int64_t k = 0; k < n; ++k) {
      const data::CaseArrays& c = cases[static_cast<size_t>(k)];
      const data::PreprocessedCase p = data::preprocess_case(c, settings, {});
      const std::string tag = std::to_string(k);
      save_safetensors(dump / ("in_" + tag + ".safetensors"),
                       {{"ct", c.ct}, {"suv", c.suv}, {"seg", c.seg},
                        {"spacing", at::tensor(std::vector<double>(c.spacing.begin(), c.spacing.end()), at::kDouble)}},
                       {{"id", c.meta.id}});
      save_safetensors(dump / ("out_" + tag + ".safetensors"),
                       {{"wb_ct", p.wb_ct}, {"wb_pet", p.wb_pet}, {"wb_seg", p.wb_seg},
                        {"nat_ct", p.nat_ct}, {"nat_pet", p.nat_pet}, {"nat_seg", p.nat_seg},
                        {"lesion_voxels", p.lesion_voxels},
                        {"lesion_voxel_count", at::tensor(std::vector<int64_t>{p.lesion_voxel_count}, at::kLong)},
                        {"wb_spacing", at::tensor(std::vector<double>(p.wb_spacing.begin(), p.wb_spacing.end()), at::kDouble)}},
                       {{"id", c.meta.id}});
    }
  }

  std::vector<std::vector<double>> ms(static_cast<size_t>(n));  // per case, per timed pass
  for (int64_t r = 0; r < warmup + reps; ++r)
    for (int64_t k = 0; k < n; ++k) {
      const auto t0 = Clock::now();
      const data::PreprocessedCase p = data::preprocess_case(cases[static_cast<size_t>(k)], settings, {});
      const double dt = seconds_since(t0) * 1e3;
      if (p.wb_ct.numel() == 0) std::abort();  // keeps the result alive
      if (r >= warmup) ms[static_cast<size_t>(k)].push_back(dt);
    }
  double per_case = 0;  // mean over cases of each case's median
  for (const auto& v : ms) per_case += median_of(v);
  per_case /= static_cast<double>(n);
  const auto& c0 = cases.front().ct;
  std::printf("fratmae preprocess cases %lld threads %d: %.2f ms/case, %.3f cases/s (median of %lld passes per case"
              " after %lld warm-up, mean over cases; input %lldx%lldx%lld -> 160x160x192)\n",
              static_cast<long long>(n), at::get_num_threads(), per_case, 1e3 / per_case, static_cast<long long>(reps),
              static_cast<long long>(warmup), static_cast<long long>(c0.size(0)), static_cast<long long>(c0.size(1)),
              static_cast<long long>(c0.size(2)));
  return 0;
}

int run_loader(const fs::path& dir, int64_t batch, int workers, double min_time, int64_t min_batches,
               int64_t warmup_epochs, uint64_t seed, const fs::path& dump) {
  auto cache = std::const_pointer_cast<const data::Cache>(data::Cache::open(dir));
  data::LoaderConfig cfg = data::LoaderConfig::pretraining(batch, seed);
  cfg.workers = workers;
  data::BatchLoader loader(cache, data::all_cases(*cache), cfg);
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  auto next = [&] {
    std::optional<data::Batch> b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    return std::move(*b);
  };
  const int64_t per_epoch = loader.batches_per_epoch();
  std::string shapes;
  for (int64_t i = 0; i < warmup_epochs * per_epoch; ++i) {
    const data::Batch b = next();
    if (shapes.empty() && !dump.empty()) {
      std::map<std::string, at::Tensor> t{{"ct", b.ct}, {"pet", b.pet}, {"text_ids", b.text_ids},
                                          {"stage_label", b.stage_label}, {"case_index", b.case_index}};
      if (b.seg.defined()) t["seg"] = b.seg;
      save_safetensors(dump, t);
    }
    if (shapes.empty()) {
      auto str = [](const at::Tensor& t) {  // dtype[shape] in [min, max]
        std::string s = std::string(c10::toString(t.scalar_type())) + "[";
        for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "," : "") + std::to_string(t.size(d));
        char range[64];
        std::snprintf(range, sizeof(range), "] in [%.3g, %.3g]", t.min().item<double>(), t.max().item<double>());
        return s + range;
      };
      shapes = "ct " + str(b.ct) + " pet " + str(b.pet) + (b.seg.defined() ? " seg " + str(b.seg) : "") +
               " text_ids " + str(b.text_ids);
    }
  }
  int64_t samples = 0, batches = 0;
  double sum_ct = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (batches < min_batches || elapsed < min_time) {
    const data::Batch b = next();
    sum_ct += static_cast<double>(b.ct.data_ptr<float>()[0]);  // the batch is read, as a model would
    samples += b.size();
    ++batches;
    elapsed = seconds_since(t0);
  }
  std::printf("fratmae loader batch %lld workers %d threads %d: %.1f samples/s (%lld batches in %.2f s after %lld"
              " warm-up epochs; %lld cases, %lld batches/epoch; %s)\n",
              static_cast<long long>(batch), workers, at::get_num_threads(), static_cast<double>(samples) / elapsed,
              static_cast<long long>(batches), elapsed, static_cast<long long>(warmup_epochs),
              static_cast<long long>(cache->size()), static_cast<long long>(per_epoch), shapes.c_str());
  if (sum_ct != sum_ct) std::abort();
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) usage();
  const std::string mode = argv[1];
  std::map<std::string, std::string> opt;
  for (int i = 2; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) usage();
    opt[a.substr(2)] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& def) {
    auto it = opt.find(k);
    std::string v = it == opt.end() ? def : it->second;
    if (it != opt.end()) opt.erase(it);
    return v;
  };
  const int threads = std::stoi(get("threads", "0"));
  if (threads > 0) at::set_num_threads(threads);
  // Reading the count also initialises this thread's OpenMP setting now. ATen initialises it
  // lazily per thread from the last at::set_num_threads() of ANY thread, so a main thread that
  // ran no parallel op before the loader's workers called at::set_num_threads(1) would
  // otherwise continue on one thread.
  (void)at::get_num_threads();
  int rc = 0;
  if (mode == "cache") {
    const std::string out = get("out", "");
    const int64_t cases = std::stoll(get("cases", "20"));
    if (out.empty() || !opt.empty()) usage();
    rc = run_cache(out, cases);
  } else if (mode == "preprocess") {
    const int64_t cases = std::stoll(get("cases", "4")), reps = std::stoll(get("reps", "3")),
                  warmup = std::stoll(get("warmup", "1"));
    const std::string dump = get("dump", "");
    if (!opt.empty() || cases < 1 || reps < 1 || warmup < 0) usage();
    rc = run_preprocess(cases, reps, warmup, dump);
  } else if (mode == "loader") {
    const std::string dir = get("cache", "");
    const int64_t batch = std::stoll(get("batch", "4")), min_batches = std::stoll(get("min-batches", "20")),
                  warmup_epochs = std::stoll(get("warmup-epochs", "2"));
    const int workers = std::stoi(get("workers", "2"));
    const double min_time = std::stod(get("min-time", "2"));
    const uint64_t seed = std::stoull(get("seed", "0"));
    const std::string dump = get("dump", "");
    if (dir.empty() || !opt.empty() || warmup_epochs < 1) usage();
    rc = run_loader(dir, batch, workers, min_time, min_batches, warmup_epochs, seed, dump);
  } else {
    usage();
  }
  return rc;
} catch (const std::exception& e) {
  std::cerr << "data_ref_bench: " << e.what() << "\n";
  return 1;
}
