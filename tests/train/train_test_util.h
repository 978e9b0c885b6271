// Phantom caches for the training tests, built in-process without ITK.
#pragma once

#include <ATen/Parallel.h>

#include <array>
#include <filesystem>
#include <string>

#include "data/cache_writer.h"
#include "data/phantom_source.h"

namespace fratmae::test {

/// Writes a cache of `cases` phantom cases (small preset) into `dir`: whole body `size`, with or
/// without native copies. Generated single-threaded, so the cases are the same on any machine.
inline void write_phantom_cache(const std::filesystem::path& dir, const std::string& cohort, int64_t cases,
                                uint64_t seed, std::array<int64_t, 3> size, bool native) {
  phantom::PhantomConfig pc;
  pc.cases = cases;
  pc.seed = seed;
  pc.cohort = cohort;
  data::CacheSettings s;
  s.size = size;
  s.native = native;
  data::CacheWriter w(dir, s);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  for (int64_t i = 0; i < pc.cases; ++i) w.add_case(data::phantom_case_arrays(phantom::generate_case(pc, i), pc, i));
  at::set_num_threads(saved);
  w.commit();
}

}  // namespace fratmae::test
