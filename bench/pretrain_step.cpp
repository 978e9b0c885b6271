// pretrain_step: time of fratmae's pre-training step on synthetic inputs (no data loading), as
// src/train/pretrainer.cpp runs it: gradients reset to none, forward (masks drawn from a
// per-step CPU generator; bf16 autocast on CUDA with --bf16), backward, the logged values summed
// on the device (train::StepMeter, read once at the end), global gradient-norm clipping at 1.0
// on the device (train::clip_grad_norm), AdamW (betas 0.9/0.95, weight decay 0.05 on matrices).
//
//   pretrain_step [--preset tiny] [--method fratmae] [--batch 8] [--steps 20] [--warmup 3]
//                 [--threads N] [--optimizer fused|torch] [--gemm auto|onednn|libtorch]
//                 [--device cpu|cuda] [--bf16]
//
// --optimizer fused: train::FusedAdamW (src/train/adamw.h); torch: torch::optim::AdamW.
// --gemm: gemm::set_backend (src/core/gemm.h; FRATMAE_GEMM in the environment wins).
//
// Prints one line: `fratmae <preset> <method> batch B threads N ...: median X ms/step (...)`.
// On the CPU each step is timed alone (median); on CUDA the `steps` steps run back to back
// between two synchronisations and X is their mean (a step synchronised alone would lose the
// overlap of one step's kernel launches with the previous step's work).
// bench/reference/pretrain_step.py does the same step in the PyTorch reference.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/gemm.h"
#include "core/torch_compat.h"
#include "model/fratmae.h"
#include "train/adamw.h"
#include "train/run_util.h"

using namespace fratmae;

int main(int argc, char** argv) {
  CLI::App app{"fratmae's pre-training step on synthetic inputs, timed"};
  std::string preset = "tiny", method = "fratmae", optimizer = "fused", gemm_backend = "auto", device_name = "cpu";
  int64_t batch = 8, steps = 20, warmup = 3, threads = 0;
  bool bf16 = false;
  app.add_option("--preset", preset, "tiny, small, paper");
  app.add_option("--method", method, "fratmae, fratmae-noalign, mae, mae-align");
  app.add_option("--batch", batch);
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  app.add_option("--optimizer", optimizer, "fused (train::FusedAdamW) or torch")->check(CLI::IsMember({"fused", "torch"}));
  app.add_option("--gemm", gemm_backend, "float32 products: auto, onednn, libtorch");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_flag("--bf16", bf16, "bf16 autocast (CUDA)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) at::set_num_threads(static_cast<int>(threads));
    gemm::set_backend(gemm_backend);
    const torch::Device device(device_name);
    const bool cuda = device.is_cuda();

    const model::ModelConfig cfg = model::ModelConfig::preset_config(preset, method);
    torch::manual_seed(0);
    model::FratMae net(cfg);
    net->to(device);
    const double lr = 1e-4, wd = 0.05;
    auto groups = train::decay_groups(*net, wd);  // as the pre-training engine
    const auto defaults = torch::optim::AdamWOptions(lr).betas({0.9, 0.95});
    std::unique_ptr<torch::optim::AdamW> opt;
    if (optimizer == "torch") opt = std::make_unique<torch::optim::AdamW>(std::move(groups), defaults);
    else opt = std::make_unique<train::FusedAdamW>(std::move(groups), defaults);

    const auto gin = at::make_generator<at::CPUGeneratorImpl>(1);
    const std::vector<int64_t> shape{batch, 1, cfg.input[0], cfg.input[1], cfg.input[2]};
    const auto ct = torch::randn(shape, gin).to(device), pet = torch::randn(shape, gin).abs().to(device);
    auto ids = torch::zeros({batch, cfg.text.context}, torch::kLong);
    for (int64_t b = 0; b < batch; ++b) {
      ids[b][0] = 49406;
      ids[b][1] = 300 + b;
      ids[b][2] = 1000 + 7 * b;
      ids[b][3] = 49407;
    }
    ids = ids.to(device);
    const auto params = net->parameters();
    train::StepMeter meter;
    auto one_step = [&](int64_t step) {
      for (auto& p : net->parameters()) p.mutable_grad() = at::Tensor();
      model::ForwardOptions fo;
      fo.gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(step));
      model::FratMaeOutput out;
      {
        compat::CudaAutocast ac(cuda && bf16);
        out = net->forward(ct, pet, ids, fo);
      }
      out.loss.backward();
      meter.add("loss", out.loss);
      meter.add("mse", out.mse);
      if (out.align.defined()) meter.add("infonce", out.align);
      meter.add("grad_norm", train::clip_grad_norm(params, 1.0));
      opt->step();
    };
    auto now = [] { return std::chrono::steady_clock::now(); };

    std::vector<double> ms;
    for (int64_t step = 0; step < warmup; ++step) one_step(step);
    if (cuda) {
      torch::cuda::synchronize();
      const auto t0 = now();
      for (int64_t step = warmup; step < warmup + steps; ++step) one_step(step);
      torch::cuda::synchronize();
      ms.push_back(std::chrono::duration<double, std::milli>(now() - t0).count() / static_cast<double>(steps));
    } else {
      for (int64_t step = warmup; step < warmup + steps; ++step) {
        const auto t0 = now();
        one_step(step);
        ms.push_back(std::chrono::duration<double, std::milli>(now() - t0).count());
      }
    }
    const double last_loss = meter.take()["loss"] / static_cast<double>(warmup + steps);  // mean over all steps
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                            : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
    double mean = 0;
    for (double v : ms) mean += v;
    mean /= static_cast<double>(ms.size());
    std::printf("fratmae %s %s batch %lld threads %d gemm %s optimizer %s device %s%s: median %.2f ms/step (min %.2f, "
                "mean %.2f, %lld steps after %lld warm-up%s; %.1f samples/s; mean loss %.4f)\n",
                preset.c_str(), method.c_str(), static_cast<long long>(batch), at::get_num_threads(), gemm::backend(),
                optimizer.c_str(), device_name.c_str(), cuda && bf16 ? " bf16" : "", median, sorted.front(), mean,
                static_cast<long long>(steps), static_cast<long long>(warmup), cuda ? ", timed together" : "",
                1000.0 * static_cast<double>(batch) / median, last_loss);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pretrain_step: " << e.what() << "\n";
    return 1;
  }
}
