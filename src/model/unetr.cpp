#include "model/unetr.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/gemm.h"

namespace fratmae::model {

namespace nn = torch::nn;

namespace {
nn::Conv3d conv3(int64_t in, int64_t out, int64_t k) {
  return nn::Conv3d(nn::Conv3dOptions(in, out, k).padding(k / 2).bias(false));
}
nn::InstanceNorm3d inorm(int64_t c) { return nn::InstanceNorm3d(nn::InstanceNorm3dOptions(c).affine(true)); }
nn::ConvTranspose3d up2(int64_t in, int64_t out) {
  return nn::ConvTranspose3d(nn::ConvTranspose3dOptions(in, out, 2).stride(2).bias(false));
}
torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.01); }

// The 2x up-sampling of a ConvTranspose3d with kernel 2, stride 2 and no bias, as one matrix
// product: every input voxel becomes its own 2 x 2 x 2 output block, so
//   y[n, o, 2a+i, 2b+j, 2c+k] = sum_c x[n, c, a, b, c'] w[c, o, i, j, k].
// Same weights (Cin, Cout, 2, 2, 2) and result as the module's forward (tested); on the CPU
// LibTorch's transposed 3-D convolution is its slow native kernel (half of a window's time in
// inference), while the product runs on the GEMM (gemm::matmul).
torch::Tensor up2_apply(const torch::Tensor& x, const torch::Tensor& w) {  // w (Cin, Cout, 2, 2, 2)
  const int64_t N = x.size(0), Cin = x.size(1), A = x.size(2), B = x.size(3), C = x.size(4), Cout = w.size(1);
  const auto rows = x.permute({0, 2, 3, 4, 1}).reshape({N * A * B * C, Cin});  // (N A B C, Cin)
  const auto y = gemm::matmul(rows, w.reshape({Cin, Cout * 8}));               // (N A B C, Cout 2 2 2)
  return y.view({N, A, B, C, Cout, 2, 2, 2})
      .permute({0, 4, 1, 5, 2, 6, 3, 7})
      .reshape({N, Cout, 2 * A, 2 * B, 2 * C});
}
constexpr double kForegroundPrior = 0.01;

// (B, 1 + L, C) tokens (CLS first) -> (B, C, g0, g1, g2).
torch::Tensor tokens_to_grid(const torch::Tensor& t, const std::array<int64_t, 3>& g) {
  const int64_t B = t.size(0), C = t.size(2);
  return t.narrow(1, 1, t.size(1) - 1).transpose(1, 2).reshape({B, C, g[0], g[1], g[2]});
}

int64_t log2_exact(int64_t p) {
  for (int64_t n = 1; n <= 4; ++n)
    if ((int64_t{1} << n) == p) return n;
  throw Error("segmentation network: the patch size must be 2, 4, 8 or 16, got " + std::to_string(p));
}
}  // namespace

ConvBlockImpl::ConvBlockImpl(int64_t in, int64_t out) {
  conv1 = register_module("conv1", conv3(in, out, 3));
  norm1 = register_module("norm1", inorm(out));
  conv2 = register_module("conv2", conv3(out, out, 3));
  norm2 = register_module("norm2", inorm(out));
  if (in != out) {
    skip = register_module("skip", conv3(in, out, 1));
    norm_skip = register_module("norm_skip", inorm(out));
  }
}

torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x) {
  auto y = lrelu(norm1->forward(conv1->forward(x)));
  y = norm2->forward(conv2->forward(y));
  const auto r = skip ? norm_skip->forward(skip->forward(x)) : x;
  return lrelu(y + r);
}

UpProjectImpl::UpProjectImpl(int64_t in, int64_t out, int64_t n_up) {
  ups = register_module("ups", nn::ModuleList());
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < n_up; ++i) {
    ups->push_back(up2(i == 0 ? in : out, out));
    if (i + 1 < n_up) blocks->push_back(ConvBlock(out, out));
  }
}

torch::Tensor UpProjectImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < ups->size(); ++i) {
    x = up2_apply(x, ups[i]->as<nn::ConvTranspose3d>()->weight);
    if (i < blocks->size()) x = blocks[i]->as<ConvBlock>()->forward(x);
  }
  return x;
}

UpBlockImpl::UpBlockImpl(int64_t in, int64_t out, int64_t skip_channels) {
  up = register_module("up", up2(in, out));
  block = register_module("block", ConvBlock(out + skip_channels, out));
}

torch::Tensor UpBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  if (!skip.defined()) return block->forward(up2_apply(x, up->weight));
  return block->forward(torch::cat({up2_apply(x, up->weight), skip}, 1));
}

DownBlockImpl::DownBlockImpl(int64_t in, int64_t out) {
  down = register_module("down", nn::Conv3d(nn::Conv3dOptions(in, out, 3).stride(2).padding(1).bias(false)));
  norm = register_module("norm", inorm(out));
  block = register_module("block", ConvBlock(out, out));
}

torch::Tensor DownBlockImpl::forward(const torch::Tensor& x) {
  return block->forward(lrelu(norm->forward(down->forward(x))));
}

std::array<int64_t, 4> skip_layers(int64_t depth) {
  std::array<int64_t, 4> l{};
  for (int q = 1; q <= 4; ++q)
    l[q - 1] = std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(depth) * q / 4.0))) - 1;
  return l;
}

void check_modalities(const std::string& m) {
  if (m != "petct" && m != "pet" && m != "ct")
    throw Error("modalities must be petct, pet or ct, not '" + m + "'");
}

namespace {
int64_t modality_count(const std::string& m) { return m == "petct" ? 2 : 1; }

// The inputs a network uses, in [PET | CT] order (PET first, as the features).
std::vector<torch::Tensor> used(const std::string& m, const torch::Tensor& pet, const torch::Tensor& ct) {
  std::vector<torch::Tensor> v;
  if (m != "ct") v.push_back(pet);
  if (m != "pet") v.push_back(ct);
  return v;
}
}  // namespace

SegmentationNetImpl::SegmentationNetImpl(const ModelConfig& c, int64_t feature_size, int64_t classes, std::string m,
                                         bool input_skip, bool deep_supervision, bool conv_encoder)
    : cfg(c), modalities(std::move(m)) {
  cfg.validate();
  check_modalities(modalities);
  levels = log2_exact(cfg.patch);
  if (feature_size < 1 || classes < 2) throw Error("segmentation network: feature_size >= 1 and classes >= 2 needed");
  const auto g = cfg.grid();
  if (modalities != "ct") pet_encoder = register_module("pet_encoder", ViTEncoder(cfg.encoder, cfg.patch, g));
  if (modalities != "pet") ct_encoder = register_module("ct_encoder", ViTEncoder(cfg.encoder, cfg.patch, g));
  const int64_t C2 = modality_count(modalities) * cfg.encoder.dim;
  auto ch = [&](int64_t l) { return feature_size << l; };
  if (conv_encoder && !input_skip)
    throw Error("segmentation network: the convolutional encoder starts from the input skip; it needs input_skip");
  if (input_skip) input_block = register_module("input_block", ConvBlock(modality_count(modalities), ch(0)));
  if (conv_encoder) {
    down_blocks = register_module("down_blocks", nn::ModuleList());
    for (int64_t l = 1; l <= levels; ++l) down_blocks->push_back(DownBlock(ch(l - 1), ch(l)));
  }
  const int64_t conv = conv_encoder ? 1 : 0;  // the conv encoder's channels join every level's skip
  skip_projections = register_module("skip_projections", nn::ModuleList());
  for (int64_t l = levels - 1; l >= 1; --l) skip_projections->push_back(UpProject(C2, ch(l), levels - l));
  up_blocks = register_module("up_blocks", nn::ModuleList());
  for (int64_t l = levels - 1; l >= 0; --l) {
    const int64_t in = l == levels - 1 ? C2 + conv * ch(levels) : ch(l + 1);
    const int64_t skip = l == 0 ? (input_skip ? ch(0) : 0) : ch(l) + conv * ch(l);
    up_blocks->push_back(UpBlock(in, ch(l), skip));
  }
  // Lesions are rare: start with foreground probability ~1% everywhere (RetinaNet's prior
  // initialisation) rather than 50%, so training does not spend its first hundreds of steps
  // learning that most voxels are background before the Dice term can work.
  auto logits_head = [&](int64_t in) {
    nn::Conv3d h(nn::Conv3dOptions(in, classes, 1));
    torch::NoGradGuard ng;
    h->bias.zero_();
    h->bias.narrow(0, 1, classes - 1).fill_(std::log(kForegroundPrior / (1.0 - kForegroundPrior)));
    return h;
  };
  head = register_module("head", logits_head(ch(0)));
  if (deep_supervision) {
    aux_heads = register_module("aux_heads", nn::ModuleList());
    for (int64_t l = 1; l < levels; ++l) aux_heads->push_back(logits_head(ch(l)));
  }
}

torch::Tensor SegmentationNetImpl::forward(const torch::Tensor& ct, const torch::Tensor& pet) {
  return decode(ct, pet, false)[0];
}

std::vector<torch::Tensor> SegmentationNetImpl::forward_levels(const torch::Tensor& ct, const torch::Tensor& pet) {
  return decode(ct, pet, true);
}

std::vector<torch::Tensor> SegmentationNetImpl::decode(const torch::Tensor& ct, const torch::Tensor& pet,
                                                       bool all_levels) {
  const auto g = cfg.grid();
  std::vector<EncoderOutput> enc;  // [PET | CT], the used ones
  if (pet_encoder) enc.push_back(pet_encoder->forward(pet));
  if (ct_encoder) enc.push_back(ct_encoder->forward(ct));
  const auto layers = skip_layers(cfg.encoder.depth);
  auto features = [&](int64_t layer) {  // [PET | CT] hidden state of a block, (B, 2C or C, grid)
    std::vector<torch::Tensor> h;
    for (const EncoderOutput& e : enc) h.push_back(e.hidden[static_cast<size_t>(layer)]);
    return tokens_to_grid(torch::cat(h, 2), g);
  };
  std::vector<torch::Tensor> latent;
  for (const EncoderOutput& e : enc) latent.push_back(e.latent);
  torch::Tensor x = tokens_to_grid(torch::cat(latent, 2), g);  // bottleneck (B, C2, grid)
  torch::Tensor skip0;  // level 0's skip: the input block on [CT, PET], (B, ch(0), H, W, D)
  if (input_block) {
    std::vector<torch::Tensor> in = used(modalities, pet, ct);  // [CT, PET] with both
    if (in.size() == 2) std::swap(in[0], in[1]);
    skip0 = input_block->forward(torch::cat(in, 1));
  }
  std::vector<torch::Tensor> conv{skip0};  // the conv encoder's levels 0..n, (B, ch(l), H / 2^l, ...)
  if (down_blocks) {
    for (size_t l = 1; l <= static_cast<size_t>(levels); ++l) conv.push_back(down_blocks[l - 1]->as<DownBlock>()->forward(conv.back()));
    x = torch::cat({x, conv.back()}, 1);  // (B, C2 + ch(n), grid)
  }
  std::vector<torch::Tensor> aux;  // aux logits, coarsest first
  for (int64_t l = levels - 1; l >= 0; --l) {
    const size_t up_index = static_cast<size_t>(levels - 1 - l);
    torch::Tensor skip;
    if (l == 0) {
      skip = skip0;  // undefined without the input skip: level 0 sees only what came up from the encoders
    } else {
      const int64_t j = levels - l;  // 1 = the deepest skip
      skip = skip_projections[up_index]->as<UpProject>()->forward(features(layers[static_cast<size_t>(3 - j)]));
      if (down_blocks) skip = torch::cat({skip, conv[static_cast<size_t>(l)]}, 1);
    }
    x = up_blocks[up_index]->as<UpBlock>()->forward(x, skip);
    if (all_levels && aux_heads && l >= 1) aux.push_back(aux_heads[static_cast<size_t>(l - 1)]->as<nn::Conv3d>()->forward(x));
  }
  std::vector<torch::Tensor> out{head->forward(x)};
  out.insert(out.end(), aux.rbegin(), aux.rend());  // levels 1, 2, ...
  return out;
}

torch::Tensor SegmentationNetImpl::foreground_probability(const torch::Tensor& ct, const torch::Tensor& pet) {
  const auto logits = forward(ct, pet).to(torch::kFloat);
  return torch::softmax(logits, 1).select(1, logits.size(1) - 1);
}

StagingNetImpl::StagingNetImpl(const ModelConfig& c, int64_t hidden, int64_t classes, double dropout, std::string p,
                               std::string m)
    : cfg(c), pool(std::move(p)), modalities(std::move(m)) {
  cfg.validate();
  check_modalities(modalities);
  const auto& pools = staging_pools();
  if (std::find(pools.begin(), pools.end(), pool) == pools.end())
    throw Error("staging network: pooling must be " + staging_pools_text() + ", not '" + pool + "'");
  const auto g = cfg.grid();
  const bool encoders = pool != "input";
  if (encoders && modalities != "ct") pet_encoder = register_module("pet_encoder", ViTEncoder(cfg.encoder, cfg.patch, g));
  if (encoders && modalities != "pet") ct_encoder = register_module("ct_encoder", ViTEncoder(cfg.encoder, cfg.patch, g));
  const int64_t per_encoder = pool == "mean-max" ? 2 : pool == "regions" ? kRegionsLR * kRegionsSI : 1;
  const int64_t C2 = encoders ? per_encoder * modality_count(modalities) * cfg.encoder.dim
                              : kRegionsLR * kInputRegionsSI * modality_count(modalities);
  mlp = register_module("mlp", nn::Sequential(nn::LayerNorm(nn::LayerNormOptions({C2})), nn::Linear(C2, hidden),
                                              nn::GELU(), nn::Dropout(dropout), nn::Linear(hidden, classes)));
}

torch::Tensor StagingNetImpl::forward(const torch::Tensor& ct, const torch::Tensor& pet) {
  auto pooled = [&](const torch::Tensor& t) {  // (B, C) or (B, 2C) for mean-max
    if (pool == "cls") return t.select(1, 0);          // the CLS token: attention pooling, and the
                                                       // PET feature ContextAlign aligns with the text
    const auto tokens = t.narrow(1, 1, t.size(1) - 1);  // (B, L, C), without the CLS token
    if (pool == "regions") {
      const auto g = cfg.grid();  // tokens in (h, w, d) order, d fastest (model/patch.cpp)
      const auto volume = tokens.transpose(1, 2).reshape({t.size(0), t.size(2), g[0], g[1], g[2]});  // (B, C, h, w, d)
      return std::get<0>(torch::adaptive_max_pool3d(volume, {1, kRegionsLR, kRegionsSI})).flatten(1);  // (B, C * LR * SI)
    }
    if (pool == "mean") return tokens.mean(1);
    if (pool == "max") return std::get<0>(tokens.max(1));
    return torch::cat({tokens.mean(1), std::get<0>(tokens.max(1))}, 1);
  };
  std::vector<torch::Tensor> f;  // [PET | CT]
  if (pool == "input") {         // no encoder: each input volume's maxima (B, 1, H, W, D) -> (B, LR * SI)
    auto maxima = [](const torch::Tensor& x) {
      return std::get<0>(torch::adaptive_max_pool3d(x, {1, kRegionsLR, kInputRegionsSI})).flatten(1);
    };
    if (modalities != "ct") f.push_back(maxima(pet));
    if (modalities != "pet") f.push_back(maxima(ct));
    return mlp->forward(torch::cat(f, 1));
  }
  // each encoder's output tokens (B, 1 + L, C) pooled
  if (pet_encoder) f.push_back(pooled(pet_encoder->forward(pet).latent));
  if (ct_encoder) f.push_back(pooled(ct_encoder->forward(ct).latent));
  return mlp->forward(torch::cat(f, 1));
}

}  // namespace fratmae::model
