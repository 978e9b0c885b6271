// Non-parametric bootstrap confidence intervals over cases (the paper's Table 3: 1,000
// samples, 95%).
//
// Each bootstrap sample draws n case indices with replacement (std::mt19937_64 seeded with
// `seed`, so an interval is reproducible), evaluates the statistic on them, and the interval
// is the (1 - level) / 2 and (1 + level) / 2 percentiles of the samples (linear interpolation
// between order statistics, numpy's default). Samples where the statistic is NaN (e.g. no case
// with a lesion was drawn) are left out.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::eval {

struct Interval {
  double value = 0;       // the statistic on all cases
  double lo = 0, hi = 0;  // percentile interval
  int64_t n = 0;          // cases the statistic was computed over
  nlohmann::json to_json() const;
  static Interval from_json(const nlohmann::json& j);  // null values -> NaN
  std::string to_string(int digits = 3) const;  // "0.640 (0.599-0.678)"
};

struct BootstrapOptions {
  int64_t samples = 1000;
  double level = 0.95;
  uint64_t seed = 0;
};

/// Interval of `statistic`, a function of the indices of the drawn cases (0..n-1, repeats
/// allowed).
Interval bootstrap(int64_t n, const std::function<double(const std::vector<int64_t>&)>& statistic,
                   const BootstrapOptions& opt = {});

/// Interval of the mean of `values`; NaN values (undefined for that case) are left out first.
Interval bootstrap_mean(const std::vector<double>& values, const BootstrapOptions& opt = {});

/// The p-quantile (0..1) of sorted values, linear interpolation.
double quantile_sorted(const std::vector<double>& sorted, double p);

}  // namespace fratmae::eval
