#include "eval/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"
#include "eval/seg_metrics.h"

namespace fratmae::eval {

double SeededStatistic::seed_mean(const std::vector<int64_t>& cases) const {
  double sum = 0;
  int64_t n = 0;
  for (int64_t s = 0; s < seeds; ++s) {
    const double v = fn(s, cases);
    if (!std::isnan(v)) sum += v, ++n;
  }
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

SeededStatistic mean_over_cases(std::vector<std::vector<double>> values) {
  if (values.empty()) throw Error("compare: a setting needs at least one seed");
  for (const auto& v : values)
    if (v.size() != values.front().size()) throw Error("compare: every seed must score the same cases");
  SeededStatistic st;
  st.seeds = static_cast<int64_t>(values.size());
  st.fn = [v = std::move(values)](int64_t s, const std::vector<int64_t>& cases) {
    std::vector<double> x;
    x.reserve(cases.size());
    for (int64_t i : cases) x.push_back(v[static_cast<size_t>(s)][static_cast<size_t>(i)]);
    return nan_mean(x);
  };
  return st;
}

SeededStatistic classification_statistic(
    std::vector<std::vector<int64_t>> predictions, std::vector<int64_t> truth,
    double (*metric)(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth)) {
  if (predictions.empty()) throw Error("compare: a setting needs at least one seed");
  for (const auto& p : predictions)
    if (p.size() != truth.size()) throw Error("compare: every seed must predict every case");
  SeededStatistic st;
  st.seeds = static_cast<int64_t>(predictions.size());
  st.fn = [p = std::move(predictions), t = std::move(truth), metric](int64_t s, const std::vector<int64_t>& cases) {
    std::vector<int64_t> pp, tt;
    for (int64_t i : cases) pp.push_back(p[static_cast<size_t>(s)][static_cast<size_t>(i)]), tt.push_back(t[static_cast<size_t>(i)]);
    return metric(pp, tt);
  };
  return st;
}

nlohmann::json SettingSummary::to_json() const {
  nlohmann::json j = mean.to_json();
  nlohmann::json ps = nlohmann::json::array();
  for (double v : per_seed) ps.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
  j["per_seed"] = ps;
  j["seed_sd"] = std::isnan(seed_sd) ? nlohmann::json(nullptr) : nlohmann::json(seed_sd);
  return j;
}

SettingSummary summarize_setting(int64_t cases, const SeededStatistic& s, const BootstrapOptions& opt) {
  SettingSummary r;
  r.mean = bootstrap(cases, [&](const std::vector<int64_t>& idx) { return s.seed_mean(idx); }, opt);
  std::vector<int64_t> all(static_cast<size_t>(cases));
  for (int64_t i = 0; i < cases; ++i) all[static_cast<size_t>(i)] = i;
  double sum = 0, n = 0;
  for (int64_t k = 0; k < s.seeds; ++k) {
    r.per_seed.push_back(cases > 0 ? s.fn(k, all) : std::numeric_limits<double>::quiet_NaN());
    if (!std::isnan(r.per_seed.back())) sum += r.per_seed.back(), ++n;
  }
  if (n > 1) {
    const double m = sum / n;
    double ss = 0;
    for (double v : r.per_seed)
      if (!std::isnan(v)) ss += (v - m) * (v - m);
    r.seed_sd = std::sqrt(ss / (n - 1));
  }
  return r;
}

Interval paired_difference(int64_t cases, const SeededStatistic& a, const SeededStatistic& b,
                           const BootstrapOptions& opt) {
  return bootstrap(cases, [&](const std::vector<int64_t>& idx) { return a.seed_mean(idx) - b.seed_mean(idx); }, opt);
}

std::string verdict(const Interval& d) {
  if (std::isnan(d.value)) return "not defined";
  // A bound within rounding of 0 is 0: a resample whose A and B means are equal can differ by
  // 1e-17 once summed in another order, and that is not evidence of a difference.
  const double eps = 1e-12 * std::max({1.0, std::abs(d.lo), std::abs(d.hi)});
  if (d.lo > eps) return "above 0";
  if (d.hi < -eps) return "below 0";
  return "includes 0";
}

}  // namespace fratmae::eval
