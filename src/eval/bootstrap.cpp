#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "core/error.h"
#include "eval/seg_metrics.h"

namespace fratmae::eval {

double quantile_sorted(const std::vector<double>& s, double p) {
  if (s.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = p * static_cast<double>(s.size() - 1);
  const auto i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, s.size() - 1);
  return s[i] + (pos - static_cast<double>(i)) * (s[j] - s[i]);
}

Interval bootstrap(int64_t n, const std::function<double(const std::vector<int64_t>&)>& statistic,
                   const BootstrapOptions& opt) {
  if (opt.samples < 1) throw Error("bootstrap: samples must be at least 1");
  if (!(opt.level > 0 && opt.level < 1)) throw Error("bootstrap: level must lie in (0, 1)");
  Interval r;
  r.n = n;
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  r.value = n > 0 ? statistic(idx) : std::numeric_limits<double>::quiet_NaN();
  if (n == 0) {
    r.lo = r.hi = r.value;
    return r;
  }
  std::mt19937_64 gen(opt.seed);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  std::vector<double> stats;
  stats.reserve(static_cast<size_t>(opt.samples));
  for (int64_t s = 0; s < opt.samples; ++s) {
    for (auto& i : idx) i = pick(gen);
    const double v = statistic(idx);
    if (!std::isnan(v)) stats.push_back(v);
  }
  std::sort(stats.begin(), stats.end());
  r.lo = quantile_sorted(stats, (1 - opt.level) / 2);
  r.hi = quantile_sorted(stats, (1 + opt.level) / 2);
  return r;
}

Interval bootstrap_mean(const std::vector<double>& values, const BootstrapOptions& opt) {
  std::vector<double> v;
  for (double x : values)
    if (!std::isnan(x)) v.push_back(x);
  return bootstrap(static_cast<int64_t>(v.size()), [&](const std::vector<int64_t>& idx) {
    double s = 0;
    for (int64_t i : idx) s += v[static_cast<size_t>(i)];
    return s / static_cast<double>(idx.size());
  }, opt);
}

nlohmann::json Interval::to_json() const {
  auto num = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
  return {{"value", num(value)}, {"ci_low", num(lo)}, {"ci_high", num(hi)}, {"n", n}};
}

Interval Interval::from_json(const nlohmann::json& j) {
  auto num = [&](const char* k) {
    return j.contains(k) && !j[k].is_null() ? j[k].get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  Interval iv;
  iv.value = num("value");
  iv.lo = num("ci_low");
  iv.hi = num("ci_high");
  iv.n = j.value("n", int64_t{0});
  return iv;
}

std::string Interval::to_string(int digits) const {
  if (std::isnan(value)) return "n/a";
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.*f (%.*f-%.*f)", digits, value, digits, lo, digits, hi);
  return buf;
}

}  // namespace fratmae::eval
