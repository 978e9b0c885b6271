// Data-parallel pre-training: processes with Gloo on loopback end with the same weights as one
// process given the whole of every batch.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"

#include "train/checkpoint.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
namespace fs = std::filesystem;

// FratMAE with ContextAlign: InfoNCE (eq. 4) is taken over the global batch, every process'
// samples, so 2 and 3 processes log the same InfoNCE and end with the same weights as one.
TEST(DistributedCli, GlooProcessesMatchOneProcessWithTheGlobalInfoNce) {
  test::TempDir tmp;
  const std::string bin = test::binary();
  auto r = test::run_fratmae("-q phantom --out " + quote(tmp / "cohort") + " --cases 6 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_fratmae("-q preprocess --data " + quote(tmp / "cohort") + " --out " + quote(tmp / "cache") +
                        " --size 32 32 48 --no-native");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string args = " -q pretrain --cache " + quote(tmp / "cache") +
                           " --preset tiny --method fratmae --steps 3 --batch 6 --lr 1e-3 --workers 1 --log-every 1";
  r = test::run_fratmae(args.substr(1) + " --out " + quote(tmp / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  auto run_world = [&](int world, const fs::path& out, int port_offset) {
    const std::string env = "WORLD_SIZE=" + std::to_string(world) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                            std::to_string(port + port_offset);
    std::string cmd = "(";
    for (int i = 0; i < world; ++i)
      cmd += env + " RANK=" + std::to_string(i) + " LOCAL_RANK=" + std::to_string(i) + " " + bin + args + " --out " +
             quote(out) + " & p" + std::to_string(i) + "=$!; ";
    cmd += "s=0; for p in";
    for (int i = 0; i < world; ++i) cmd += " $p" + std::to_string(i);
    cmd += "; do wait $p || s=1; done; exit $s) > " + quote(out.string() + ".log") + " 2>&1";
    return std::system(cmd.c_str());
  };
  auto first_infonce = [](const fs::path& run) {
    std::ifstream f(run / "metrics.jsonl");
    std::string line;
    std::getline(f, line);
    return nlohmann::json::parse(line)["infonce"].get<double>();
  };
  const auto a = train::load_checkpoint_weights(*train::latest_checkpoint(tmp / "one"));
  for (int world : {2, 3}) {
    const fs::path out = tmp / ("world" + std::to_string(world));
    ASSERT_EQ(run_world(world, out, world), 0) << read_file(out.string() + ".log");
    EXPECT_NEAR(first_infonce(out), first_infonce(tmp / "one"), 1e-5) << world << " processes: InfoNCE over the global batch";
    const auto b = train::load_checkpoint_weights(*train::latest_checkpoint(out));
    ASSERT_EQ(a.size(), b.size());
    double worst = 0;
    std::string where;
    for (const auto& [name, t] : a) {
      // Attention's key bias adds the same number to every logit of a query, so softmax ignores
      // it and its gradient is zero up to rounding; AdamW turns rounding noise into steps of
      // about the learning rate, differently summed in 1 and N processes. Left out of the check.
      at::Tensor x = t, y = b.at(name);
      const bool in_proj = name.size() >= 12 && name.compare(name.size() - 12, 12, "in_proj_bias") == 0;
      const bool kv_proj = name.find("kv_proj.bias") != std::string::npos;
      if (in_proj || kv_proj) {
        const int64_t C = t.numel() / (in_proj ? 3 : 2), k0 = in_proj ? C : 0;
        x = torch::cat({t.narrow(0, 0, k0), t.narrow(0, k0 + C, t.numel() - k0 - C)});
        y = torch::cat({y.narrow(0, 0, k0), y.narrow(0, k0 + C, y.numel() - k0 - C)});
      }
      const double d = (x - y).abs().max().item<double>();
      if (d > worst) worst = d, where = name;
    }
    std::cout << "[ values ] largest weight difference, 1 process vs " << world << " Gloo processes: " << worst << " ("
              << where << ")\n";
    EXPECT_LT(worst, 1e-5) << where;
  }
  // The batch must split evenly over the processes.
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
  const std::string bad = "(" + env + " RANK=0 " + bin + " -q pretrain --cache " + quote(tmp / "cache") +
                          " --preset tiny --steps 1 --batch 3 --out " + quote(tmp / "bad") + ") > /dev/null 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
}
