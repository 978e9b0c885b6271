#include "model/text_encoder.h"

#include <map>

#include "core/error.h"
#include "core/gemm.h"
#include "core/safetensors.h"
#include "core/torch_compat.h"

namespace fratmae::model {

namespace nn = torch::nn;

ClipAttentionImpl::ClipAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", nn::Linear(width, width));
  torch::NoGradGuard ng;
  nn::init::normal_(in_proj_weight, 0.0, std::pow(width, -0.5));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hd = C / heads;
  const auto qkv = gemm::linear(x, in_proj_weight, in_proj_bias).view({B, T, 3, heads, hd}).permute({2, 0, 3, 1, 4});
  const auto out = compat::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], {}, /*is_causal=*/true);
  return gemm::linear(out.transpose(1, 2).reshape({B, T, C}), out_proj->weight, out_proj->bias);  // (B, T, C)
}

ClipMlpImpl::ClipMlpImpl(int64_t width) {
  c_fc = register_module("c_fc", nn::Linear(width, 4 * width));
  c_proj = register_module("c_proj", nn::Linear(4 * width, width));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  const auto h = gemm::linear(x, c_fc->weight, c_fc->bias);
  return gemm::linear(h * torch::sigmoid(1.702 * h), c_proj->weight, c_proj->bias);  // QuickGELU
}

ResidualBlockImpl::ResidualBlockImpl(int64_t width, int64_t heads) {
  ln_1 = register_module("ln_1", nn::LayerNorm(nn::LayerNormOptions({width})));
  attn = register_module("attn", ClipAttention(width, heads));
  ln_2 = register_module("ln_2", nn::LayerNorm(nn::LayerNormOptions({width})));
  mlp = register_module("mlp", ClipMlp(width));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto y = x + attn->forward(ln_1->forward(x));
  return y + mlp->forward(ln_2->forward(y));
}

TextTransformerImpl::TextTransformerImpl(int64_t width, int64_t layers, int64_t heads) {
  resblocks = register_module("resblocks", nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) resblocks->push_back(ResidualBlock(width, heads));
}

torch::Tensor TextTransformerImpl::forward(torch::Tensor x) {
  for (const auto& b : *resblocks) x = b->as<ResidualBlock>()->forward(x);
  return x;
}

TextEncoderImpl::TextEncoderImpl(const TextConfig& c) : cfg(c) {
  token_embedding = register_module("token_embedding", nn::Embedding(c.vocab, c.width));
  positional_embedding = register_parameter("positional_embedding", torch::empty({c.context, c.width}));
  transformer = register_module("transformer", TextTransformer(c.width, c.layers, c.heads));
  ln_final = register_module("ln_final", nn::LayerNorm(nn::LayerNormOptions({c.width})));
  text_projection = register_parameter("text_projection", torch::empty({c.width, c.embed_dim}));
  torch::NoGradGuard ng;  // OpenAI CLIP's initialisation
  nn::init::normal_(token_embedding->weight, 0.0, 0.02);
  nn::init::normal_(positional_embedding, 0.0, 0.01);
  nn::init::normal_(text_projection, 0.0, std::pow(c.width, -0.5));
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& ids) {
  const int64_t T = ids.size(1);
  auto x = token_embedding->forward(ids) + positional_embedding.narrow(0, 0, T);  // (B, T, C)
  x = ln_final->forward(transformer->forward(x));
  const auto eot = ids.argmax(1);                                                 // (B) end-of-text position
  const auto pooled = x.index({torch::arange(ids.size(0), ids.options()), eot});  // (B, C)
  return gemm::matmul(pooled, text_projection);                                   // (B, embed_dim)
}

namespace {
// Hugging Face CLIPTextModel name -> open_clip name (q/k/v are merged separately).
std::string from_hf(const std::string& n) {
  static const std::pair<const char*, const char*> rules[] = {
      {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
      {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
      {"text_model.final_layer_norm.", "ln_final."},
  };
  for (const auto& [hf, oc] : rules)
    if (n.rfind(hf, 0) == 0) return oc + n.substr(std::string(hf).size());
  const std::string layers = "text_model.encoder.layers.";
  if (n.rfind(layers, 0) == 0) {
    std::string rest = n.substr(layers.size());
    const size_t dot = rest.find('.');
    const std::string idx = rest.substr(0, dot), tail = rest.substr(dot + 1);
    static const std::pair<const char*, const char*> sub[] = {
        {"self_attn.out_proj.", "attn.out_proj."}, {"layer_norm1.", "ln_1."}, {"layer_norm2.", "ln_2."},
        {"mlp.fc1.", "mlp.c_fc."}, {"mlp.fc2.", "mlp.c_proj."}};
    for (const auto& [a, b] : sub)
      if (tail.rfind(a, 0) == 0) return "transformer.resblocks." + idx + "." + b + tail.substr(std::string(a).size());
  }
  return "";
}
}  // namespace

void load_clip_text_weights(TextEncoder& enc, const std::filesystem::path& file) {
  const SafetensorsFile f = load_safetensors(file);
  std::map<std::string, at::Tensor> ours;
  for (const auto& p : enc->named_parameters()) ours[p.key()] = p.value();
  std::map<std::string, at::Tensor> mapped;
  const bool hf = f.tensors.count("text_model.embeddings.token_embedding.weight") > 0;
  if (hf) {
    std::map<std::string, std::array<at::Tensor, 3>> qkv_w, qkv_b;
    for (const auto& [name, t] : f.tensors) {
      if (name == "text_projection.weight") {
        mapped["text_projection"] = t.t().contiguous();  // HF Linear (embed, width) -> (width, embed)
        continue;
      }
      const std::string layers = "text_model.encoder.layers.";
      if (name.rfind(layers, 0) == 0 && name.find(".self_attn.") != std::string::npos &&
          name.find("out_proj") == std::string::npos) {
        const std::string rest = name.substr(layers.size());
        const std::string idx = rest.substr(0, rest.find('.'));
        const int which = name.find("q_proj") != std::string::npos ? 0 : name.find("k_proj") != std::string::npos ? 1 : 2;
        (name.find(".weight") != std::string::npos ? qkv_w : qkv_b)[idx][which] = t;
        continue;
      }
      const std::string n = from_hf(name);
      if (!n.empty()) mapped[n] = t;
    }
    for (auto& [idx, w] : qkv_w)
      if (w[0].defined() && w[1].defined() && w[2].defined())
        mapped["transformer.resblocks." + idx + ".attn.in_proj_weight"] = torch::cat({w[0], w[1], w[2]}, 0);
    for (auto& [idx, b] : qkv_b)
      if (b[0].defined() && b[1].defined() && b[2].defined())
        mapped["transformer.resblocks." + idx + ".attn.in_proj_bias"] = torch::cat({b[0], b[1], b[2]}, 0);
  } else {
    // open_clip / OpenAI: find the prefix under which "token_embedding.weight" lives.
    std::string prefix;
    bool found = false;
    for (const auto& [name, t] : f.tensors) {
      const std::string key = "token_embedding.weight";
      if (name.size() >= key.size() && name.compare(name.size() - key.size(), key.size(), key) == 0) {
        prefix = name.substr(0, name.size() - key.size());
        found = true;
        break;
      }
    }
    if (!found)
      throw FileError(file, "no CLIP text weights found (expected open_clip names such as "
                            "'token_embedding.weight' or Hugging Face names such as "
                            "'text_model.embeddings.token_embedding.weight')");
    for (const auto& [name, t] : f.tensors)
      if (name.rfind(prefix, 0) == 0 && ours.count(name.substr(prefix.size()))) mapped[name.substr(prefix.size())] = t;
  }
  SafetensorsFile src;
  src.tensors = mapped;
  load_into(ours, src, file.string(), /*strict=*/true);
}

}  // namespace fratmae::model
