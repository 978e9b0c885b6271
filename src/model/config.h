// Hyper-parameters of the FratMAE model, one value per component, with the paper's presets.
//
//   paper: ViT-B encoders (768 wide, 12 layers, 12 heads, MLP 3072), decoders 512/8/16 (MAE's
//          defaults), CLIP's text tower (512 wide, 12 layers, 8 heads), input 32 x 160 x 192
//          (a coronal stack: H x W x D), patch 16^3 -> 2 x 10 x 12 = 240 tokens per modality.
//   small: a CPU-sized model on 32 x 80 x 96 stacks.
//   tiny:  for tests and the CPU demo: 16 x 32 x 48 stacks, patch 8, 2 layers.
// Methods (the paper's Table 3 as switches of one implementation):
//   fratmae          asymmetric cross-modal masking, cross-attention decoders, ContextAlign
//   fratmae-noalign  the same without ContextAlign
//   mae              each modality its own MAE (both masked, self-attention decoders)
//   mae-align        mae plus ContextAlign
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::model {

struct EncoderConfig {
  int64_t dim = 768, depth = 12, heads = 12;
  double mlp_ratio = 4.0;
};

struct DecoderConfig {
  int64_t dim = 512, depth = 8, heads = 16;
  double mlp_ratio = 4.0;
};

struct TextConfig {
  int64_t vocab = 49408, context = 77, width = 512, layers = 12, heads = 8, embed_dim = 512;
};

struct ModelConfig {
  std::string preset = "paper";
  std::string method = "fratmae";
  std::array<int64_t, 3> input{32, 160, 192};  // H, W, D of one stack
  int64_t patch = 16;
  EncoderConfig encoder;
  DecoderConfig decoder;
  TextConfig text;
  double mask_ratio = 0.5;
  bool norm_pix_loss = false;      // MAE's per-patch normalised target
  std::string mask_draw = "step";  // "step": one masked modality per step; "sample": per sample
  double temperature = 0.07;       // initial InfoNCE temperature (learnable)
  double align_weight = 1.0;       // total loss = MSE + align_weight * InfoNCE
  bool symmetric_align = true;     // InfoNCE both ways (PET->text and text->PET) or PET->text only

  bool cross_decoder() const { return method == "fratmae" || method == "fratmae-noalign"; }
  bool context_align() const { return method == "fratmae" || method == "mae-align"; }
  std::array<int64_t, 3> grid() const {  // tokens along H, W, D
    return {input[0] / patch, input[1] / patch, input[2] / patch};
  }
  int64_t num_tokens() const { auto g = grid(); return g[0] * g[1] * g[2]; }

  /// Throws fratmae::Error naming the value to fix.
  void validate() const;
  nlohmann::json to_json() const;
  /// Strict: an unknown key is an error.
  static ModelConfig from_json(const nlohmann::json& j);
  /// "paper", "small" or "tiny", optionally with encoder values changed after a colon:
  /// "tiny:patch=4,depth=4,dim=128,heads=4" (keys patch, dim, depth, heads). Throws
  /// fratmae::Error for an unknown name or key, or a configuration that does not validate.
  static ModelConfig preset_config(const std::string& preset, const std::string& method = "fratmae");
};

/// The staging head's poolings of the encoder tokens, as `finetune --pool` takes them
/// (StagingNet, model/unetr.h: mean, max, mean-max, cls, regions, input).
const std::vector<std::string>& staging_pools();

/// "mean, max, mean-max, cls, regions or input": the poolings for an error message.
std::string staging_pools_text();

}  // namespace fratmae::model
