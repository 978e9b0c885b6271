#include "train/encoder_init.h"

#include <algorithm>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::train {

namespace {
bool is_encoder_weight(const std::string& name) {
  const bool encoder = name.rfind("pet_encoder.", 0) == 0 || name.rfind("ct_encoder.", 0) == 0;
  return encoder && name.find("pos_embed") == std::string::npos;
}
}  // namespace

PretrainedEncoders read_pretrained_encoders(const fs::path& init) {
  PretrainedEncoders p;
  std::error_code ec;
  if (fs::is_directory(init, ec)) {
    const auto ck = latest_checkpoint(init);
    if (!ck) throw FileError(init, "is not a pre-training run with a checkpoint (no checkpoints/latest)");
    const json cfg = json::parse(read_file(init / "config.json"), nullptr, false);
    if (cfg.is_discarded() || !cfg.contains("model"))
      throw FileError(init / "config.json", "is not a pre-training run configuration (no \"model\")");
    p.config = model::ModelConfig::from_json(cfg["model"]);
    p.weights = load_checkpoint_weights(*ck);
    p.source = ck->string();
  } else if (fs::is_regular_file(init, ec)) {
    SafetensorsFile f = load_safetensors(init);
    const auto it = f.metadata.find("model");
    if (it == f.metadata.end())
      throw FileError(init, "has no model configuration in its metadata (write it with `fratmae export`)");
    const json m = json::parse(it->second, nullptr, false);
    if (m.is_discarded()) throw FileError(init, "the model configuration in its metadata is not JSON");
    p.config = model::ModelConfig::from_json(m);
    p.weights = std::move(f.tensors);
    p.source = init.string();
  } else {
    throw FileError(init, "no such run folder or encoders file");
  }
  bool any = false;
  for (const auto& [name, t] : p.weights) any = any || is_encoder_weight(name);
  if (!any) throw FileError(init, "holds no pet_encoder.* / ct_encoder.* weights");
  return p;
}

void load_pretrained_encoders(torch::nn::Module& net, const PretrainedEncoders& p) {
  std::map<std::string, at::Tensor> dest;
  for (const auto& q : net.named_parameters())
    if (is_encoder_weight(q.key())) dest[q.key()] = q.value();
  for (const auto& b : net.named_buffers())
    if (is_encoder_weight(b.key())) dest[b.key()] = b.value();
  // The encoders the network has (a PET-only network has no ct_encoder.*).
  auto present = [&](const std::string& name) {
    const std::string prefix = name.substr(0, name.find('.') + 1);
    return std::any_of(dest.begin(), dest.end(), [&](const auto& d) { return d.first.rfind(prefix, 0) == 0; });
  };
  SafetensorsFile src;
  for (const auto& [name, t] : p.weights)
    if (is_encoder_weight(name) && present(name)) src.tensors[name] = t;
  load_into(dest, src, "pre-trained encoders from " + p.source, /*strict=*/true);
}

}  // namespace fratmae::train
