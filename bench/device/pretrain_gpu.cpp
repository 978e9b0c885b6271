// GPU check of the pre-training engine: a phantom cohort straight into a cache (ITK-free),
// then `paper`-preset FratMAE pre-training in bf16 on CUDA; prints the metrics lines.
// Built and run by bench/device/pretrain_gpu.sh on a machine with PyTorch's CUDA LibTorch.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "data/cache_writer.h"
#include "data/phantom_source.h"
#include "train/pretrainer.h"

int main(int argc, char** argv) {
  using namespace fratmae;
  const int64_t cases = argc > 1 ? std::atoll(argv[1]) : 48;
  const int64_t steps = argc > 2 ? std::atoll(argv[2]) : 30;
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 24;
  const std::string dir = argc > 4 ? argv[4] : "/tmp/fratmae-gpu";
  if (!torch::cuda::is_available()) {
    std::printf("SKIP: no CUDA device\n");
    return 0;
  }
  phantom::PhantomConfig pc;
  pc.cases = cases;
  pc.seed = 1;
  data::CacheSettings s;  // the paper's 160 x 160 x 192 whole body
  s.native = false;
  {
    data::CacheWriter w(dir + "/cache", s, /*overwrite=*/true);
    data::BuildOptions bo;
    bo.workers = 0;
    const auto t0 = std::chrono::steady_clock::now();
    data::build_cache(w, data::phantom_jobs(pc), bo);
    w.commit();
    std::printf("cache: %lld cases in %.1f s\n", static_cast<long long>(cases),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  train::PretrainConfig c;
  c.cache = dir + "/cache";
  c.out = dir + "/run";
  std::filesystem::remove_all(c.out);
  c.preset = "paper";
  c.device = "cuda";
  c.bf16 = true;
  c.batch = batch;
  c.steps = steps;
  c.log_every = 5;
  c.checkpoint_every = 100000;
  c.workers = 8;
  const auto r = train::pretrain(c, false);
  std::printf("pretrain: %lld steps, loss %.4f -> %.4f\n", static_cast<long long>(r.steps_done), r.first_loss, r.last_loss);
  std::ifstream m(c.out + "/metrics.jsonl");
  for (std::string line; std::getline(m, line);) std::printf("%s\n", line.c_str());
  std::printf("peak allocated by this process: see nvidia-smi log\n");
  return 0;
}
