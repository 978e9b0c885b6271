// sliding_window_bench: sliding-window segmentation of one whole-body volume with fratmae's
// SegmentationNet (the path of `fratmae predict` and of the experiment's evaluation:
// infer::segment_volume), timed, with the process's memory. bench/infer_vs_pytorch.sh runs it
// beside the PyTorch reference (bench/reference/segmentation_ref.py) on the same weights and
// volume.
//
//   sliding_window_bench [--preset tiny] [--feature-size 16] [--shape H W D] [--overlap 0.5]
//                        [--batch 4] [--threads N] [--device cpu|cuda] [--bf16] [--seed 0]
//                        [--probability] [--gemm auto] [--out DIR]
//
// The volume is a synthetic body (an elliptic cylinder of soft tissue in air with hot spheres
// in the PET), in the normalised ranges of the cache (CT -1 = air, PET >= 0). With --out it
// writes DIR/weights.safetensors (SegmentationNet's parameters and buffers, metadata "config",
// "feature_size"), DIR/volume.safetensors (ct, pet) and DIR/result.safetensors (mask, and the
// probability map with --probability), after the measurement.
// Prints one JSON line: seconds, windows, windows_per_s, rss_before_mib (after the model and
// the volume exist), peak_rss_mib (the process's high-water mark, /proc/self/status VmHWM).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "core/gemm.h"
#include "core/safetensors.h"
#include "infer/cache_eval.h"
#include "model/unetr.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

// A /proc/self/status field in MiB (VmRSS now, VmHWM the peak), 0 where unavailable.
double proc_status_mib(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  return 0;
}

// (H, W, D) synthetic body: CT -1 in air, ~0.1 in tissue; PET 0 in air, 0.1 in tissue, 1.0 in
// a few spheres along the body.
std::pair<at::Tensor, at::Tensor> synthetic_body(int64_t H, int64_t W, int64_t D, uint64_t seed) {
  const auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto h = torch::linspace(-1, 1, H).view({H, 1, 1}), w = torch::linspace(-1, 1, W).view({1, W, 1}),
             d = torch::linspace(-1, 1, D).view({1, 1, D});
  const auto body = ((h / 0.8).square() + (w / 0.9).square()).le(1.0).expand({H, W, D});
  auto ct = torch::where(body, torch::full({}, 0.1), torch::full({}, -1.0)) + 0.02 * torch::randn({H, W, D}, gen);
  auto pet = body.to(torch::kFloat) * 0.1;
  for (int k = 0; k < 6; ++k) {
    const double ch = 0.3 * (2 * torch::rand({1}, gen).item<double>() - 1), cw = 0.5 * (2 * torch::rand({1}, gen).item<double>() - 1),
                 cd = 1.6 * torch::rand({1}, gen).item<double>() - 0.8;
    const auto sphere = ((h - ch).square() + (w - cw).square() + (d - cd).square()).le(0.01);
    pet = torch::where(sphere, torch::full({}, 1.0), pet);
  }
  return {ct.contiguous(), pet.contiguous()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sliding-window segmentation of one synthetic whole-body volume, timed"};
  std::string preset = "tiny", device_name = "cpu", gemm_backend = "auto", out_dir;
  int64_t feature_size = 16, batch = 4, threads = 0;
  uint64_t seed = 0;
  std::vector<int64_t> shape{128, 128, 320};
  double overlap = 0.5;
  bool bf16 = false, probability = false;
  app.add_option("--preset", preset, "model preset (tiny, small, paper)");
  app.add_option("--feature-size", feature_size, "UNETR decoder width at full resolution");
  bool conv_encoder = false;
  app.add_flag("--conv-encoder", conv_encoder, "with the convolutional encoder beside the ViTs (model/unetr.h)");
  app.add_option("--shape", shape, "volume H W D")->expected(3);
  app.add_option("--overlap", overlap, "window overlap");
  app.add_option("--batch", batch, "windows per forward pass");
  app.add_option("--threads", threads, "intra-op threads (0: LibTorch's default)");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_flag("--bf16", bf16, "bf16 autocast (CUDA)");
  app.add_option("--seed", seed, "seed of the weights and the volume");
  app.add_flag("--probability", probability, "keep and write the probability map");
  app.add_option("--gemm", gemm_backend, "float32 products: auto, onednn, libtorch (src/core/gemm.h)");
  app.add_option("--out", out_dir, "write weights, volume and result here");
  std::string profile;
  app.add_option("--profile", profile, "write a chrome://tracing profile of the inference here");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads > 0) at::set_num_threads(static_cast<int>(threads));
    gemm::set_backend(gemm_backend);
    const torch::Device device(device_name);
    model::ModelConfig cfg = model::ModelConfig::preset_config(preset, "fratmae");
    torch::manual_seed(seed);
    model::SegmentationNet net(cfg, feature_size, 2, "petct", /*input_skip=*/true, /*deep_supervision=*/false, conv_encoder);
    net->to(device);
    const auto [ct, pet] = synthetic_body(shape[0], shape[1], shape[2], seed + 1);

    infer::SlidingWindowConfig sw;
    sw.overlap = overlap;
    sw.batch = batch;
    sw.keep_probability = probability;
    const double rss_before = proc_status_mib("VmRSS");
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
    if (!profile.empty()) profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    const auto t0 = std::chrono::steady_clock::now();
    const infer::SlidingWindowResult r = infer::segment_volume(net, ct, pet, sw, device, bf16);
    profiler.reset();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double peak = proc_status_mib("VmHWM");

    nlohmann::json j{{"impl", "fratmae"},
                     {"preset", preset},
                     {"shape", shape},
                     {"window", cfg.input},
                     {"device", device_name},
                     {"threads", at::get_num_threads()},
                     {"gemm", gemm::backend()},
                     {"seconds", seconds},
                     {"windows", r.windows},
                     {"windows_per_s", static_cast<double>(r.windows) / seconds},
                     {"foreground_voxels", r.mask.sum().item<int64_t>()},
                     {"rss_before_mib", rss_before},
                     {"peak_rss_mib", peak}};
    std::cout << j.dump() << std::endl;

    if (!out_dir.empty()) {
      fs::create_directories(out_dir);
      std::map<std::string, at::Tensor> state;
      for (const auto& p : net->named_parameters()) state[p.key()] = p.value().to(torch::kCPU);
      for (const auto& b : net->named_buffers()) state[b.key()] = b.value().to(torch::kCPU);
      save_safetensors(fs::path(out_dir) / "weights.safetensors", state,
                       {{"config", cfg.to_json().dump()},
                        {"feature_size", std::to_string(feature_size)},
                        {"conv_encoder", conv_encoder ? "1" : "0"}});
      save_safetensors(fs::path(out_dir) / "volume.safetensors", {{"ct", ct}, {"pet", pet}},
                       {{"overlap", std::to_string(overlap)}, {"batch", std::to_string(batch)}});
      std::map<std::string, at::Tensor> res{{"mask", r.mask}};
      if (probability) res["probability"] = r.probability;
      save_safetensors(fs::path(out_dir) / "result.safetensors", res, {});
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sliding_window_bench: " << e.what() << "\n";
    return 1;
  }
}
