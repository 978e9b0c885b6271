// Splits by case with fixed seeds, and nested training fractions (paper §2.4: 20%, 40%, 100%).
//
// Cases are ordered by a hash of (seed, case id), so a case's place does not depend on the
// order or number of the other cases. Test cases are the first of that order, validation the
// next, training the rest. A training fraction f keeps the first ceil(f * n) training cases of
// a second order (seed of the fractions): the 20% subset lies inside the 40% one, which lies
// inside 100%.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fratmae::data {

struct Split {
  std::vector<int64_t> train, val, test;  // indices into `ids`, each sorted
};

/// Splits cases `ids` (e.g. Cache::ids()). Fractions in [0, 1), val + test < 1; counts are
/// rounded to the nearest case. Throws fratmae::Error on bad fractions or duplicate ids.
Split split_cases(const std::vector<std::string>& ids, double val_fraction, double test_fraction,
                  uint64_t seed = 0);

/// The training subset for `fraction` in (0, 1] of `train` (indices into `ids`): at least one
/// case, nested across fractions for the same seed. Sorted.
std::vector<int64_t> training_subset(const std::vector<std::string>& ids, const std::vector<int64_t>& train,
                                     double fraction, uint64_t seed = 0);

}  // namespace fratmae::data
