#include "model/config.h"

#include <cstdlib>
#include <set>

#include "core/error.h"

namespace fratmae::model {

using nlohmann::json;

namespace {
// "tiny:patch=4,depth=4" -> the base preset's configuration with those encoder values changed.
void apply_overrides(ModelConfig& c, const std::string& spec, const std::string& text) {
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, end - at);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    int64_t v = 0;
    bool ok = eq != std::string::npos && eq + 1 < item.size();
    if (ok) {
      char* stop = nullptr;
      v = std::strtoll(item.c_str() + eq + 1, &stop, 10);
      ok = *stop == '\0' && v > 0;
    }
    if (!ok) throw Error("model preset '" + spec + "': '" + item + "' is not KEY=POSITIVE_INTEGER");
    if (key == "patch") c.patch = v;
    else if (key == "dim") c.encoder.dim = v;
    else if (key == "depth") c.encoder.depth = v;
    else if (key == "heads") c.encoder.heads = v;
    else throw Error("model preset '" + spec + "': unknown key '" + key + "' (patch, dim, depth, heads: the encoders')");
    at = end + 1;
  }
}
}  // namespace

ModelConfig ModelConfig::preset_config(const std::string& spec, const std::string& method) {
  const size_t colon = spec.find(':');
  const std::string preset = spec.substr(0, colon);
  ModelConfig c;
  c.preset = spec;
  c.method = method;
  if (preset == "paper") {
    // defaults above
  } else if (preset == "small") {
    c.input = {32, 80, 96};
    c.encoder = {256, 6, 8, 4.0};
    c.decoder = {192, 2, 6, 4.0};
    c.text = {49408, 77, 256, 4, 4, 256};
  } else if (preset == "tiny") {
    c.input = {16, 32, 48};
    c.patch = 8;
    c.encoder = {64, 2, 4, 2.0};
    c.decoder = {48, 1, 4, 2.0};
    c.text = {49408, 77, 32, 1, 2, 32};
  } else {
    throw Error("unknown model preset '" + preset + "' (paper, small, tiny)");
  }
  if (colon != std::string::npos) apply_overrides(c, spec, spec.substr(colon + 1));
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  static const std::set<std::string> methods{"fratmae", "fratmae-noalign", "mae", "mae-align"};
  if (!methods.count(method))
    throw Error("unknown method '" + method + "' (fratmae, fratmae-noalign, mae, mae-align)");
  if (patch <= 0) throw Error("model: patch must be positive");
  for (int a = 0; a < 3; ++a)
    if (input[a] <= 0 || input[a] % patch != 0)
      throw Error("model: input size " + std::to_string(input[a]) + " is not a multiple of the patch size " +
                  std::to_string(patch));
  if (encoder.dim % encoder.heads != 0) throw Error("model: encoder dim must be divisible by its heads");
  if (decoder.dim % decoder.heads != 0) throw Error("model: decoder dim must be divisible by its heads");
  if (text.width % text.heads != 0) throw Error("model: text width must be divisible by its heads");
  if (encoder.dim % 2 != 0 || decoder.dim % 2 != 0)
    throw Error("model: encoder and decoder dims must be even (sine-cosine position embedding)");
  if (!(mask_ratio > 0 && mask_ratio < 1)) throw Error("model: mask_ratio must be in (0, 1)");
  if (mask_draw != "step" && mask_draw != "sample") throw Error("model: mask_draw must be 'step' or 'sample'");
  if (!(temperature > 0)) throw Error("model: temperature must be positive");
}

json ModelConfig::to_json() const {
  return {{"preset", preset},
          {"method", method},
          {"input", input},
          {"patch", patch},
          {"encoder", {{"dim", encoder.dim}, {"depth", encoder.depth}, {"heads", encoder.heads}, {"mlp_ratio", encoder.mlp_ratio}}},
          {"decoder", {{"dim", decoder.dim}, {"depth", decoder.depth}, {"heads", decoder.heads}, {"mlp_ratio", decoder.mlp_ratio}}},
          {"text", {{"vocab", text.vocab}, {"context", text.context}, {"width", text.width}, {"layers", text.layers},
                    {"heads", text.heads}, {"embed_dim", text.embed_dim}}},
          {"mask_ratio", mask_ratio},
          {"norm_pix_loss", norm_pix_loss},
          {"mask_draw", mask_draw},
          {"temperature", temperature},
          {"align_weight", align_weight},
          {"symmetric_align", symmetric_align}};
}

namespace {
void check_keys(const json& j, const std::set<std::string>& allowed, const std::string& where) {
  if (!j.is_object()) throw Error("model config: '" + where + "' must be an object");
  for (const auto& [k, v] : j.items())
    if (!allowed.count(k)) throw Error("model config: unknown key '" + where + k + "'");
}
}  // namespace

ModelConfig ModelConfig::from_json(const json& j) {
  check_keys(j, {"preset", "method", "input", "patch", "encoder", "decoder", "text", "mask_ratio",
                 "norm_pix_loss", "mask_draw", "temperature", "align_weight", "symmetric_align"}, "");
  ModelConfig c = preset_config(j.value("preset", std::string("paper")), j.value("method", std::string("fratmae")));
  try {
    if (j.contains("input")) c.input = j["input"].get<std::array<int64_t, 3>>();
    if (j.contains("patch")) c.patch = j["patch"];
    if (j.contains("encoder")) {
      const json& e = j["encoder"];
      check_keys(e, {"dim", "depth", "heads", "mlp_ratio"}, "encoder.");
      c.encoder = {e.value("dim", c.encoder.dim), e.value("depth", c.encoder.depth), e.value("heads", c.encoder.heads),
                   e.value("mlp_ratio", c.encoder.mlp_ratio)};
    }
    if (j.contains("decoder")) {
      const json& e = j["decoder"];
      check_keys(e, {"dim", "depth", "heads", "mlp_ratio"}, "decoder.");
      c.decoder = {e.value("dim", c.decoder.dim), e.value("depth", c.decoder.depth), e.value("heads", c.decoder.heads),
                   e.value("mlp_ratio", c.decoder.mlp_ratio)};
    }
    if (j.contains("text")) {
      const json& t = j["text"];
      check_keys(t, {"vocab", "context", "width", "layers", "heads", "embed_dim"}, "text.");
      c.text = {t.value("vocab", c.text.vocab), t.value("context", c.text.context), t.value("width", c.text.width),
                t.value("layers", c.text.layers), t.value("heads", c.text.heads), t.value("embed_dim", c.text.embed_dim)};
    }
    c.mask_ratio = j.value("mask_ratio", c.mask_ratio);
    c.norm_pix_loss = j.value("norm_pix_loss", c.norm_pix_loss);
    c.mask_draw = j.value("mask_draw", c.mask_draw);
    c.temperature = j.value("temperature", c.temperature);
    c.align_weight = j.value("align_weight", c.align_weight);
    c.symmetric_align = j.value("symmetric_align", c.symmetric_align);
  } catch (const json::exception& e) {
    throw Error(std::string("model config: a value has the wrong type: ") + e.what());
  }
  c.validate();
  return c;
}

const std::vector<std::string>& staging_pools() {
  static const std::vector<std::string> pools{"mean", "max", "mean-max", "cls", "regions", "input"};
  return pools;
}

std::string staging_pools_text() {
  const auto& p = staging_pools();
  std::string t;
  for (size_t i = 0; i < p.size(); ++i) t += (i == 0 ? "" : i + 1 == p.size() ? " or " : ", ") + p[i];
  return t;
}

}  // namespace fratmae::model
