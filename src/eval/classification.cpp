#include "eval/classification.h"

#include <limits>
#include <map>

#include "core/error.h"

namespace fratmae::eval {

namespace {
void check(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth) {
  if (pred.size() != truth.size())
    throw Error("classification metrics: " + std::to_string(pred.size()) + " predictions for " +
                std::to_string(truth.size()) + " cases");
}
}  // namespace

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth) {
  check(pred, truth);
  if (truth.empty()) return std::numeric_limits<double>::quiet_NaN();
  int64_t ok = 0;
  for (size_t i = 0; i < truth.size(); ++i) ok += pred[i] == truth[i];
  return static_cast<double>(ok) / static_cast<double>(truth.size());
}

double macro_sensitivity(const std::vector<int64_t>& pred, const std::vector<int64_t>& truth) {
  check(pred, truth);
  if (truth.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::map<int64_t, std::pair<int64_t, int64_t>> per_class;  // class -> (correct, total)
  for (size_t i = 0; i < truth.size(); ++i) {
    auto& c = per_class[truth[i]];
    c.first += pred[i] == truth[i];
    ++c.second;
  }
  double s = 0;
  for (const auto& [cls, c] : per_class) s += static_cast<double>(c.first) / static_cast<double>(c.second);
  return s / static_cast<double>(per_class.size());
}

}  // namespace fratmae::eval
