// Phantom cases straight into the cache, without ITK or files (tests, benchmarks, the
// ITK-free build): phantom::generate_case -> CaseArrays -> CacheWriter.
#pragma once

#include <vector>

#include "data/cache_writer.h"
#include "phantom/cohort.h"

namespace fratmae::data {

/// The case's arrays (already canonical [H, W, D]) with its metadata; sources record the
/// phantom's preset, cohort, seed and index.
CaseArrays phantom_case_arrays(const phantom::PhantomCase& c, const phantom::PhantomConfig& cfg, int64_t index);

/// One CaseJob per case of the cohort (generated when the job runs).
std::vector<CaseJob> phantom_jobs(const phantom::PhantomConfig& cfg);

}  // namespace fratmae::data
