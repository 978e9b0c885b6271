#include "data/splits.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace fratmae::data {

namespace {

uint64_t key(uint64_t seed, const std::string& id) {
  uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 33;  // finaliser (murmur3) so near-identical ids scatter
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

// `idx` ordered by key(seed, ids[i]), ties by id.
std::vector<int64_t> ordered(const std::vector<std::string>& ids, std::vector<int64_t> idx, uint64_t seed) {
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    const uint64_t ka = key(seed, ids[static_cast<size_t>(a)]), kb = key(seed, ids[static_cast<size_t>(b)]);
    return ka != kb ? ka < kb : ids[static_cast<size_t>(a)] < ids[static_cast<size_t>(b)];
  });
  return idx;
}

}  // namespace

Split split_cases(const std::vector<std::string>& ids, double val_fraction, double test_fraction, uint64_t seed) {
  if (val_fraction < 0 || test_fraction < 0 || val_fraction + test_fraction >= 1)
    throw Error("split: validation and test fractions must be >= 0 and leave cases for training (val + test < 1)");
  if (std::set<std::string>(ids.begin(), ids.end()).size() != ids.size())
    throw Error("split: case ids must be unique");
  std::vector<int64_t> all(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) all[i] = static_cast<int64_t>(i);
  const std::vector<int64_t> order = ordered(ids, all, seed);
  const auto n = static_cast<double>(ids.size());
  const auto n_test = static_cast<size_t>(std::llround(test_fraction * n));
  const auto n_val = static_cast<size_t>(std::llround(val_fraction * n));
  Split s;
  for (size_t i = 0; i < order.size(); ++i)
    (i < n_test ? s.test : i < n_test + n_val ? s.val : s.train).push_back(order[i]);
  for (auto* v : {&s.train, &s.val, &s.test}) std::sort(v->begin(), v->end());
  return s;
}

std::vector<int64_t> training_subset(const std::vector<std::string>& ids, const std::vector<int64_t>& train,
                                     double fraction, uint64_t seed) {
  if (!(fraction > 0 && fraction <= 1)) throw Error("split: the training fraction must be in (0, 1], e.g. 0.2");
  for (int64_t i : train)
    if (i < 0 || i >= static_cast<int64_t>(ids.size())) throw Error("split: training index out of range");
  // An order of its own, so that the subset is not simply "the cases nearest the
  // validation set" of split_cases' order.
  const std::vector<int64_t> order = ordered(ids, train, seed ^ 0xF4AC7105ull);
  const auto k = std::max<size_t>(1, static_cast<size_t>(std::ceil(fraction * static_cast<double>(train.size()) - 1e-9)));
  std::vector<int64_t> out(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(std::min(k, order.size())));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fratmae::data
