// Classification metrics (Ann Arbor staging: 0 early I-II, 1 advanced III-IV).
#pragma once

#include <cstdint>
#include <vector>

namespace fratmae::eval {

/// Fraction of predictions equal to the truth (NaN for no cases).
double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth);

/// Macro sensitivity (balanced accuracy): the mean over the classes present in the truth of
/// the fraction of that class's cases predicted as it. NaN for no cases.
double macro_sensitivity(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth);

}  // namespace fratmae::eval
