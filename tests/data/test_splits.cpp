// Splits by case and nested training fractions.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "data/splits.h"

using namespace fratmae;

namespace {
std::vector<std::string> ids(int n, const std::string& prefix = "CASE_") {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}
bool subset(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  return std::includes(b.begin(), b.end(), a.begin(), a.end());
}
}  // namespace

TEST(Splits, DisjointCompleteAndSeeded) {
  const auto names = ids(100);
  const data::Split s = data::split_cases(names, 0.1, 0.2, 5);
  EXPECT_EQ(s.train.size(), 70u);
  EXPECT_EQ(s.val.size(), 10u);
  EXPECT_EQ(s.test.size(), 20u);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.val.begin(), s.val.end());
  all.insert(s.test.begin(), s.test.end());
  EXPECT_EQ(all.size(), 100u);
  const data::Split again = data::split_cases(names, 0.1, 0.2, 5);
  EXPECT_EQ(s.test, again.test);
  EXPECT_NE(data::split_cases(names, 0.1, 0.2, 6).test, s.test);
  // A case's side does not depend on the order of the list.
  std::vector<std::string> reversed(names.rbegin(), names.rend());
  const data::Split r = data::split_cases(reversed, 0.1, 0.2, 5);
  std::set<std::string> a, b;
  for (int64_t i : s.test) a.insert(names[static_cast<size_t>(i)]);
  for (int64_t i : r.test) b.insert(reversed[static_cast<size_t>(i)]);
  EXPECT_EQ(a, b);
  EXPECT_THROW(data::split_cases(names, 0.5, 0.5), Error);
  EXPECT_THROW(data::split_cases({"a", "a"}, 0.1, 0.1), Error);
}

TEST(Splits, TrainingFractionsAreNested) {
  const auto names = ids(433, "GHSG_");  // the paper's downstream training set size
  const data::Split s = data::split_cases(names, 0.0, 0.0, 1);
  const auto f20 = data::training_subset(names, s.train, 0.2, 1);
  const auto f40 = data::training_subset(names, s.train, 0.4, 1);
  const auto f100 = data::training_subset(names, s.train, 1.0, 1);
  EXPECT_EQ(f20.size(), 87u);  // ceil(0.2 * 433)
  EXPECT_EQ(f40.size(), 174u);
  EXPECT_EQ(f100, s.train);
  EXPECT_TRUE(subset(f20, f40));
  EXPECT_TRUE(subset(f40, f100));
  EXPECT_EQ(f20, data::training_subset(names, s.train, 0.2, 1));
  EXPECT_NE(f20, data::training_subset(names, s.train, 0.2, 2));
  EXPECT_EQ(data::training_subset(names, {3}, 0.2, 0).size(), 1u);
  EXPECT_THROW(data::training_subset(names, s.train, 0.0), Error);
}
