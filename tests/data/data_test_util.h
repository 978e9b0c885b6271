// Helpers for the data/ tests: hand-built cases and a small phantom cache shared per suite.
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>

#include "data/cache.h"
#include "data/cache_writer.h"
#include "data/phantom_source.h"
#include "test_util.h"

namespace fratmae::test {

/// A case of shape (H, W, D): CT a body of soft tissue (40 HU) in air, PET 1.0 inside the body
/// with a hot cube (SUV 8) that is also the lesion mask.
inline data::CaseArrays make_case(const std::string& id, int64_t H, int64_t W, int64_t D, int stage = 0) {
  data::CaseArrays c;
  c.meta.id = id;
  c.meta.tracer = "18F-FDG";
  c.meta.diagnosis = "lymphoma";
  c.meta.age = 50;
  c.meta.sex = "F";
  c.meta.stage = stage;
  c.ct = at::full({H, W, D}, -1000.0f);
  c.ct.slice(0, H / 4, 3 * H / 4).slice(1, W / 4, 3 * W / 4).fill_(40.0f);
  c.suv = at::zeros({H, W, D});
  c.suv.slice(0, H / 4, 3 * H / 4).slice(1, W / 4, 3 * W / 4).fill_(1.0f);
  c.seg = at::zeros({H, W, D}, at::kByte);
  auto cube = [&](at::Tensor t) { return t.slice(0, H / 2, H / 2 + 3).slice(1, W / 2, W / 2 + 3).slice(2, D / 2, D / 2 + 3); };
  cube(c.suv).fill_(8.0f);
  cube(c.seg).fill_(1);
  c.spacing = {4.0, 4.0, 5.0};
  c.source_geometry.size = {D, W, H};
  c.source_geometry.spacing = {5.0, 4.0, 4.0};
  c.source_geometry.direction = canonical_direction();
  return c;
}

/// Settings small enough for fast tests (whole body 64 x 48 x 80).
inline data::CacheSettings small_settings() {
  data::CacheSettings s;
  s.size = {64, 48, 80};
  return s;
}

/// A cache of `n` phantom cases (small preset) built once per test binary run and kept in
/// a temporary folder for the suites that only read it.
struct PhantomCache {
  TempDir dir;
  std::shared_ptr<data::Cache> cache;
  static PhantomCache& get(int64_t n = 3) {
    static PhantomCache pc(n);
    return pc;
  }

 private:
  explicit PhantomCache(int64_t n) {
    phantom::PhantomConfig cfg;
    cfg.cases = n;
    cfg.cohort = "hodgkin";  // every case has a stage, and lesions
    cfg.seed = 3;
    data::CacheWriter w(dir / "cache", small_settings());
    data::BuildOptions opt;
    opt.show_progress = false;
    data::build_cache(w, data::phantom_jobs(cfg), opt);
    cache = data::Cache::open(dir / "cache");
  }
};

}  // namespace fratmae::test
