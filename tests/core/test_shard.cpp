// Which share of the work a process takes: --shard I/N or the launcher's environment.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "core/shard.h"

using fratmae::Error;
using fratmae::Shard;

namespace {
// Sets the launcher variables for one test and removes them again.
struct Env {
  const char* names[8] = {"RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_ARRAY_TASK_ID",
                          "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT", nullptr};
  Env() { clear(); }
  ~Env() { clear(); }
  void clear() {
    for (const char** n = names; *n; ++n) ::unsetenv(*n);
  }
  void set(const char* k, const char* v) { ::setenv(k, v, 1); }
};
}  // namespace

TEST(Shard, ParsesIOfNAndRefusesWhatIsNot) {
  const Shard s = Shard::parse("2/3");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.to_string(), "2/3");
  EXPECT_EQ(s.suffix(), "-2-of-3");
  EXPECT_EQ(Shard::parse("0/1").suffix(), "");
  for (const char* bad : {"3/3", "-1/3", "1/0", "1", "a/b", "1/3x", "/3", ""}) EXPECT_THROW(Shard::parse(bad), Error) << bad;
  try {
    Shard::parse("3/3");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("count from 0"), std::string::npos) << e.what();
  }
}

TEST(Shard, RoundRobinCoversEveryItemOnce) {
  for (int64_t n = 1; n <= 4; ++n)
    for (int64_t item = 0; item < 11; ++item) {
      int owners = 0;
      for (int64_t i = 0; i < n; ++i) owners += Shard{i, n}.owns(item);
      EXPECT_EQ(owners, 1) << item << " of " << n;
    }
}

TEST(Shard, ReadsTheLaunchersEnvironment) {
  Env env;
  EXPECT_FALSE(Shard::resolve("").enabled());  // nothing set: everything
  env.set("SLURM_ARRAY_TASK_ID", "7");
  env.set("SLURM_ARRAY_TASK_MIN", "5");
  env.set("SLURM_ARRAY_TASK_COUNT", "4");
  EXPECT_EQ(Shard::resolve("").to_string(), "2/4");
  EXPECT_EQ(Shard::resolve("").source, "SLURM array");
  env.set("SLURM_PROCID", "1");
  env.set("SLURM_NTASKS", "2");
  EXPECT_EQ(Shard::resolve("").to_string(), "1/2");  // srun's tasks before an array's
  env.set("RANK", "0");
  env.set("WORLD_SIZE", "3");
  EXPECT_EQ(Shard::resolve("").to_string(), "0/3");  // torchrun's first
  EXPECT_EQ(Shard::resolve("1/5").to_string(), "1/5");  // --shard before all
  env.set("RANK", "3");
  EXPECT_THROW(Shard::resolve(""), Error);
  env.set("RANK", "x");
  EXPECT_THROW(Shard::resolve(""), Error);
}
