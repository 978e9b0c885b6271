// GPU check of the pre-training engine: a phantom cohort straight into a cache (ITK-free),
// then `paper`-preset FratMAE pre-training in bf16 on CUDA; prints the metrics lines.
// Built and run by bench/device/gpu_bench.sh on a machine with PyTorch's CUDA LibTorch.
//   pretrain_gpu [CASES=48] [STEPS=30] [BATCH=24] [DIR=/tmp/fratmae-gpu] [RESIDENT=1] [WORKERS=8]
// The cohort has at least BATCH cases (full batches only). RESIDENT=1 holds the cache on the
// GPU and cuts the batches there (PretrainConfig::resident); 0 uses WORKERS CPU threads.
#include <torch/torch.h>

#include <algorithm>
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
  const bool resident = argc > 5 ? std::atoi(argv[5]) != 0 : true;
  const int workers = argc > 6 ? std::atoi(argv[6]) : 8;
  if (!torch::cuda::is_available()) {
    std::printf("SKIP: no CUDA device\n");
    return 0;
  }
  phantom::PhantomConfig pc;
  pc.cases = std::max(cases, batch);
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
    std::printf("cache: %lld cases in %.1f s\n", static_cast<long long>(pc.cases),
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
  c.workers = workers;
  c.resident = resident;
  const auto r = train::pretrain(c, false);
  std::printf("pretrain: batch %lld, %s, %lld steps, loss %.4f -> %.4f\n", static_cast<long long>(batch),
              resident ? "resident cache" : "CPU loader", static_cast<long long>(r.steps_done), r.first_loss, r.last_loss);
  std::ifstream m(c.out + "/metrics.jsonl");
  for (std::string line; std::getline(m, line);) std::printf("%s\n", line.c_str());
  return 0;
}
