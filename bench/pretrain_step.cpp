// pretrain_step: time of fratmae's pre-training step on the CPU (or a device), on synthetic
// inputs (no data loading), as src/train/pretrainer.cpp runs it: gradients reset to none,
// forward (masks drawn from a per-step CPU generator), backward, the logged values read,
// global gradient-norm clipping at 1.0, AdamW (betas 0.9/0.95, weight decay 0.05 on matrices).
//
//   pretrain_step [--preset tiny] [--method fratmae] [--batch 8] [--steps 20] [--warmup 3]
//                 [--threads N] [--optimizer fused|torch] [--gemm auto|onednn|libtorch]
//
// --optimizer fused: train::FusedAdamW (src/train/adamw.h); torch: torch::optim::AdamW.
// --gemm: gemm::set_backend (src/core/gemm.h; FRATMAE_GEMM in the environment wins).
//
// Prints one line: `fratmae <preset> <method> batch B threads N: median X ms/step (...)`.
// bench/reference/pretrain_step.py does the same step in the PyTorch reference.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "core/gemm.h"
#include "model/fratmae.h"
#include "train/adamw.h"
#include "train/run_util.h"

using namespace fratmae;

namespace {
void usage() {
  std::cerr << "usage: pretrain_step [--preset tiny] [--method fratmae] [--batch 8] [--steps 20] [--warmup 3]\n"
               "                     [--threads N] [--optimizer fused|torch] [--gemm auto|onednn|libtorch]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string preset = "tiny", method = "fratmae", optimizer = "fused", gemm_backend = "auto";
  int64_t batch = 8, steps = 20, warmup = 3, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    const std::string v = argv[++i];
    if (a == "--preset") preset = v;
    else if (a == "--method") method = v;
    else if (a == "--batch") batch = std::stoll(v);
    else if (a == "--steps") steps = std::stoll(v);
    else if (a == "--warmup") warmup = std::stoll(v);
    else if (a == "--threads") threads = std::stoll(v);
    else if (a == "--optimizer") optimizer = v;
    else if (a == "--gemm") gemm_backend = v;
    else usage();
  }
  if (optimizer != "torch" && optimizer != "fused") usage();
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  gemm::set_backend(gemm_backend);

  const model::ModelConfig cfg = model::ModelConfig::preset_config(preset, method);
  torch::manual_seed(0);
  model::FratMae net(cfg);
  const double lr = 1e-4, wd = 0.05;
  auto groups = train::decay_groups(*net, wd);  // as the pre-training engine
  const auto defaults = torch::optim::AdamWOptions(lr).betas({0.9, 0.95});
  std::unique_ptr<torch::optim::AdamW> opt;
  if (optimizer == "torch") opt = std::make_unique<torch::optim::AdamW>(std::move(groups), defaults);
  else opt = std::make_unique<train::FusedAdamW>(std::move(groups), defaults);

  const auto gin = at::make_generator<at::CPUGeneratorImpl>(1);
  const std::vector<int64_t> shape{batch, 1, cfg.input[0], cfg.input[1], cfg.input[2]};
  const auto ct = torch::randn(shape, gin), pet = torch::randn(shape, gin).abs();
  auto ids = torch::zeros({batch, cfg.text.context}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    ids[b][0] = 49406;
    ids[b][1] = 300 + b;
    ids[b][2] = 1000 + 7 * b;
    ids[b][3] = 49407;
  }
  const auto params = net->parameters();

  std::vector<double> ms;
  double loss = 0;
  for (int64_t step = 0; step < warmup + steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
    model::ForwardOptions fo;
    fo.gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(step));
    const model::FratMaeOutput out = net->forward(ct, pet, ids, fo);
    out.loss.backward();
    loss = out.loss.detach().item<double>();
    (void)out.mse.detach().item<double>();
    if (out.align.defined()) (void)out.align.detach().item<double>();
    (void)train::clip_grad_norm(params, 1.0);  // as the engines do (src/train/run_util.h)
    opt->step();
    const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (step >= warmup) ms.push_back(dt);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  std::printf("fratmae %s %s batch %lld threads %d gemm %s optimizer %s: median %.2f ms/step (min %.2f, mean %.2f, %zu steps"
              " after %lld warm-up; last loss %.4f)\n",
              preset.c_str(), method.c_str(), static_cast<long long>(batch), at::get_num_threads(), gemm::backend(),
              optimizer.c_str(),
              median, sorted.front(), mean, ms.size(), static_cast<long long>(warmup), loss);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "pretrain_step: " << e.what() << "\n";
  return 1;
}
