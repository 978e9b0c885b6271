// Data-parallel pre-training: two processes with Gloo on loopback end with the same weights
// as one process given both halves of every batch.
#include <gtest/gtest.h>

#include <unistd.h>

#include "train/checkpoint.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
namespace fs = std::filesystem;

TEST(DistributedCli, TwoGlooProcessesMatchOneProcess) {
  test::TempDir tmp;
  const std::string bin = test::binary();
  auto r = test::run_fratmae("-q phantom --out " + quote(tmp / "cohort") + " --cases 4 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_fratmae("-q preprocess --data " + quote(tmp / "cohort") + " --out " + quote(tmp / "cache") +
                        " --size 32 32 48 --no-native");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string args = " -q pretrain --cache " + quote(tmp / "cache") +
                           " --preset tiny --method fratmae-noalign --steps 3 --batch 4 --lr 1e-3 --workers 1";
  r = test::run_fratmae(args.substr(1) + " --out " + quote(tmp / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
  const std::string two = "(" + env + " RANK=0 LOCAL_RANK=0 " + bin + args + " --out " + quote(tmp / "two") + " & " +
                          env + " RANK=1 LOCAL_RANK=1 " + bin + args + " --out " + quote(tmp / "two") +
                          "; r1=$?; wait $!; r0=$?; exit $((r0 + r1))) > " + quote(tmp / "two.log") + " 2>&1";
  ASSERT_EQ(std::system(two.c_str()), 0) << test::run_fratmae("--version").output;
  const auto a = train::load_checkpoint_weights(*train::latest_checkpoint(tmp / "one"));
  const auto b = train::load_checkpoint_weights(*train::latest_checkpoint(tmp / "two"));
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (const auto& [name, t] : a) worst = std::max(worst, (t - b.at(name)).abs().max().item<double>());
  std::cout << "[ values ] largest weight difference, 1 process vs 2 Gloo processes: " << worst << "\n";
  EXPECT_LT(worst, 1e-5);
  // The batch must split evenly over the processes.
  const std::string bad = "(" + env + " RANK=0 " + bin + " -q pretrain --cache " + quote(tmp / "cache") +
                          " --preset tiny --steps 1 --batch 3 --out " + quote(tmp / "bad") + ") > /dev/null 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
}
