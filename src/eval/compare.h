// Comparing settings on the same test cases, over several fine-tuning seeds: what a reviewer
// asks of "A is better than B".
//
// A setting is a metric of its runs: `fn(s, cases)` is the metric of seed s's run over the
// drawn test cases (a mean of per-case scores, or accuracy / macro sensitivity of their
// predictions). The setting's value is the mean over seeds on all cases; its interval comes
// from the bootstrap over cases of that seed mean; the seeds' own values and their standard
// deviation show the spread that fine-tuning randomness alone gives.
// A paired difference A - B draws the same cases for both (A's seed mean minus B's on each
// bootstrap sample), so the case-to-case variation they share cancels: its interval is what
// says whether A beats B on these cases.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/bootstrap.h"

namespace fratmae::eval {

struct SeededStatistic {
  int64_t seeds = 1;
  std::function<double(int64_t seed, const std::vector<int64_t>& cases)> fn;
  /// Mean over seeds of fn on `cases` (NaN seeds left out).
  double seed_mean(const std::vector<int64_t>& cases) const;
};

/// Mean of per-case values, per seed: values[s][i] for seed s, case i (NaN values left out).
SeededStatistic mean_over_cases(std::vector<std::vector<double>> values);

/// A classification metric (accuracy, macro_sensitivity) of per-seed predictions against one truth.
SeededStatistic classification_statistic(
    std::vector<std::vector<int64_t>> predictions, std::vector<int64_t> truth,
    double (*metric)(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth));

struct SettingSummary {
  Interval mean;                // seed mean, 95% bootstrap CI over cases
  std::vector<double> per_seed;  // each seed's value on all cases
  double seed_sd = 0;           // sample standard deviation of per_seed (0 for one seed)
  nlohmann::json to_json() const;  // Interval's keys plus "per_seed", "seed_sd"
};

SettingSummary summarize_setting(int64_t cases, const SeededStatistic& s, const BootstrapOptions& opt = {});

/// Paired bootstrap interval of A - B over the same `cases` cases.
Interval paired_difference(int64_t cases, const SeededStatistic& a, const SeededStatistic& b,
                           const BootstrapOptions& opt = {});

/// "above 0", "below 0" or "includes 0": where the interval lies (a bound within floating-point
/// rounding of 0, 1e-12 of the interval's scale, counts as 0).
std::string verdict(const Interval& difference);

}  // namespace fratmae::eval
