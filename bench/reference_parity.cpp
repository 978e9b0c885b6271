// reference_parity: one FratMAE forward and backward in fratmae (C++), written to safetensors
// so that bench/reference/parity.py can run the same step in the PyTorch reference and compare.
//
//   reference_parity --preset tiny --method fratmae --batch 4 --seed 0 --target pet|ct|draw
//                    [--mask-draw step|sample] [--weights FILE] [--gemm auto|onednn|libtorch] --out DIR
//
// Writes DIR/weights.safetensors (the model's named_parameters() and named_buffers(), metadata
// "config" = the model config's JSON) and DIR/case.safetensors: input.ct, input.pet,
// input.text_ids, the masking noise the forward drew (noise.0 for FratMAE; noise.0 = PET,
// noise.1 = CT for MAE), output.{loss, mse, align, mask_pet, mask_ct, target_is_pet} and
// grad.<name> for every parameter that received a gradient; metadata "draw_seed" (the CPU
// generator seed of ForwardOptions::gen, so the reference can redraw the same values),
// "target" and "gemm" (the backend of fratmae's products, src/core/gemm.h). With --weights
// the model starts from that file instead (e.g. the reference's own initialisation: the
// names must match exactly).
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "core/error.h"
#include "core/gemm.h"
#include "core/safetensors.h"
#include "model/fratmae.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {
void usage() {
  std::cerr << "usage: reference_parity [--preset tiny] [--method fratmae] [--batch 4] [--seed 0]\n"
               "                        [--target draw|pet|ct] [--mask-draw step|sample] [--weights FILE]\n"
               "                        [--gemm auto|onednn|libtorch] --out DIR\n";
  std::exit(2);
}
}  // namespace

int main(int argc, char** argv) try {
  std::string preset = "tiny", method = "fratmae", target = "draw", mask_draw = "step", weights, out_dir,
              gemm_backend = "auto";
  int64_t batch = 4, seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    const std::string v = argv[++i];
    if (a == "--preset") preset = v;
    else if (a == "--method") method = v;
    else if (a == "--batch") batch = std::stoll(v);
    else if (a == "--seed") seed = std::stoll(v);
    else if (a == "--target") target = v;
    else if (a == "--mask-draw") mask_draw = v;
    else if (a == "--weights") weights = v;
    else if (a == "--out") out_dir = v;
    else if (a == "--gemm") gemm_backend = v;
    else usage();
  }
  if (out_dir.empty() || (target != "draw" && target != "pet" && target != "ct")) usage();

  gemm::set_backend(gemm_backend);
  model::ModelConfig cfg = model::ModelConfig::preset_config(preset, method);
  cfg.mask_draw = mask_draw;
  cfg.validate();
  torch::manual_seed(static_cast<uint64_t>(seed));
  model::FratMae net(cfg);
  std::map<std::string, at::Tensor> state;
  for (const auto& p : net->named_parameters()) state[p.key()] = p.value();
  for (const auto& b : net->named_buffers()) state[b.key()] = b.value();
  if (!weights.empty()) load_into(state, load_safetensors(weights), weights, /*strict=*/true);

  // Inputs: CT-like (signed) and PET-like (non-negative) noise volumes, CLIP-like prompts.
  const auto gin = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed) + 1000);
  const std::vector<int64_t> shape{batch, 1, cfg.input[0], cfg.input[1], cfg.input[2]};
  const auto ct = torch::randn(shape, gin), pet = torch::randn(shape, gin).abs();
  auto ids = torch::zeros({batch, cfg.text.context}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    ids[b][0] = 49406;
    ids[b][1] = 300 + b;
    ids[b][2] = 1000 + 7 * b;
    ids[b][3] = 49407;
  }

  model::ForwardOptions fo;
  const uint64_t draw_seed = static_cast<uint64_t>(seed) + 2000;
  fo.gen = at::make_generator<at::CPUGeneratorImpl>(draw_seed);
  fo.target = target == "pet" ? model::Target::kPet : target == "ct" ? model::Target::kCt : model::Target::kDraw;
  // The values the forward will draw, from a copy of its generator, in FratMaeImpl::forward's order.
  at::Generator g2 = fo.gen->clone();
  const int64_t L = cfg.num_tokens();
  std::map<std::string, at::Tensor> cs;
  if (cfg.cross_decoder()) {
    if (target == "draw") {
      const int64_t n = cfg.mask_draw == "step" ? 1 : batch;
      for (int64_t b = 0; b < n; ++b) (void)torch::rand({1}, g2);
    }
    cs["noise.0"] = torch::rand({batch, L}, g2, torch::kFloat);
  } else {
    cs["noise.0"] = torch::rand({batch, L}, g2, torch::kFloat);
    cs["noise.1"] = torch::rand({batch, L}, g2, torch::kFloat);
  }

  const model::FratMaeOutput out = net->forward(ct, pet, ids, fo);
  out.loss.backward();

  cs["input.ct"] = ct;
  cs["input.pet"] = pet;
  cs["input.text_ids"] = ids;
  cs["output.loss"] = out.loss.detach();
  cs["output.mse"] = out.mse.detach();
  if (out.align.defined()) cs["output.align"] = out.align.detach();
  cs["output.mask_pet"] = out.mask_pet;
  cs["output.mask_ct"] = out.mask_ct;
  if (out.target_is_pet.defined()) cs["output.target_is_pet"] = out.target_is_pet;
  for (const auto& p : net->named_parameters())
    if (p.value().grad().defined()) cs["grad." + p.key()] = p.value().grad();

  fs::create_directories(out_dir);
  save_safetensors(fs::path(out_dir) / "weights.safetensors", state, {{"config", cfg.to_json().dump()}});
  save_safetensors(fs::path(out_dir) / "case.safetensors", cs,
                   {{"draw_seed", std::to_string(draw_seed)},
                    {"target", target},
                    {"torch", TORCH_VERSION},
                    {"gemm", gemm::backend()}});
  std::cout << "fratmae " << preset << " " << method << " batch " << batch << " target " << target
            << " (" << cfg.mask_draw << "): loss " << out.loss.item<double>() << " mse " << out.mse.item<double>();
  if (out.align.defined()) std::cout << " align " << out.align.item<double>();
  std::cout << " (gemm " << gemm::backend() << ") -> " << out_dir << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "reference_parity: " << e.what() << "\n";
  return 1;
}
