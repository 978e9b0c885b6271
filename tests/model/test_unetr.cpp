// The downstream networks: UNETR-style segmentation and the staging MLP.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/gemm.h"
#include "model/fratmae.h"
#include "model/unetr.h"
#include "model_test_util.h"

using namespace fratmae;
using namespace fratmae::model;
using fratmae::test::gradient_check;

namespace {
ModelConfig tiny() { return ModelConfig::preset_config("tiny"); }
}  // namespace

TEST(Unetr, SkipLayersAreThePapersBlocks) {
  EXPECT_EQ(skip_layers(12), (std::array<int64_t, 4>{2, 5, 8, 11}));  // blocks 3, 6, 9, 12
  EXPECT_EQ(skip_layers(2), (std::array<int64_t, 4>{0, 0, 1, 1}));
  EXPECT_EQ(skip_layers(1), (std::array<int64_t, 4>{0, 0, 0, 0}));
}

TEST(Unetr, OutputShapeForPatch8And16) {
  torch::manual_seed(0);
  SegmentationNet net(tiny(), /*feature_size=*/4);  // 16 x 32 x 48, patch 8
  const auto x = torch::randn({2, 1, 16, 32, 48});
  const auto y = net->forward(x, x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 2, 16, 32, 48}));
  const auto p = net->foreground_probability(x, x);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{2, 16, 32, 48}));
  EXPECT_TRUE(p.ge(0).all().item<bool>() && p.le(1).all().item<bool>());

  ModelConfig c = tiny();
  c.patch = 16;
  c.input = {16, 32, 32};
  SegmentationNet net16(c, 2);
  EXPECT_EQ(net16->levels, 4);
  EXPECT_EQ(net16->forward(torch::randn({1, 1, 16, 32, 32}), torch::randn({1, 1, 16, 32, 32})).sizes(),
            (std::vector<int64_t>{1, 2, 16, 32, 32}));
  c.patch = 32;
  c.input = {32, 32, 32};
  EXPECT_THROW(SegmentationNet(c, 2), Error);
}

TEST(Unetr, EncoderNamesMatchPretraining) {
  SegmentationNet net(tiny(), 4);
  bool pet = false, ct = false;
  for (const auto& p : net->named_parameters()) {
    pet = pet || p.key() == "pet_encoder.blocks.0.attn.q_proj.weight";
    ct = ct || p.key() == "ct_encoder.patch_embed.proj.weight";
  }
  EXPECT_TRUE(pet && ct);
}

TEST(Unetr, GradientsReachEncodersAndHead) {
  torch::manual_seed(1);
  SegmentationNet net(tiny(), 4);
  const auto ct = torch::randn({1, 1, 16, 32, 48}), pet = torch::rand({1, 1, 16, 32, 48});
  net->forward(ct, pet).select(1, 1).mean().backward();
  for (const auto& name : {"pet_encoder.blocks.0.mlp.fc1.weight", "ct_encoder.blocks.1.attn.proj.weight",
                           "input_block.conv1.weight", "skip_projections.0.ups.0.weight", "head.weight"}) {
    const auto g = net->named_parameters()[name].grad();
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << name;
  }
}

// Without the input skip every voxel's logit comes through the encoders: no full-resolution
// convolutions on the raw input; still the window's shape out, and every parameter learns.
TEST(Unetr, WithoutTheInputSkipEverythingGoesThroughTheEncoders) {
  torch::manual_seed(6);
  SegmentationNet net(tiny(), 4, 2, "petct", /*input_skip=*/false);
  EXPECT_FALSE(net->input_block);
  for (const auto& p : net->named_parameters()) EXPECT_EQ(p.key().rfind("input_block.", 0), std::string::npos) << p.key();
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  const auto y = net->forward(ct, pet);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 2, 16, 32, 48}));
  y.square().sum().backward();
  for (const auto& p : net->named_parameters()) EXPECT_TRUE(p.value().grad().defined()) << p.key();
  // Fewer parameters than with the skip by exactly the input block (and the wider last block).
  SegmentationNet with(tiny(), 4);
  EXPECT_GT(count_parameters(*with), count_parameters(*net));
}

// Deep supervision adds a logits head on every coarse decoder level (p = 8: levels 1 and 2);
// forward is unchanged by them, and each aux head's gradient reaches the encoders.
TEST(Unetr, DeepSupervisionHeadsOnTheCoarseLevels) {
  torch::manual_seed(7);
  SegmentationNet net(tiny(), 4, 2, "petct", /*input_skip=*/true, /*deep_supervision=*/true);
  ASSERT_TRUE(net->aux_heads);
  EXPECT_EQ(net->aux_heads->size(), 2u);
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  const auto levels = net->forward_levels(ct, pet);
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{2, 2, 16, 32, 48}));
  EXPECT_EQ(levels[1].sizes(), (std::vector<int64_t>{2, 2, 8, 16, 24}));
  EXPECT_EQ(levels[2].sizes(), (std::vector<int64_t>{2, 2, 4, 8, 12}));
  EXPECT_TRUE(torch::allclose(levels[0], net->forward(ct, pet)));
  // Every aux head starts at the 1% foreground prior, as the main head.
  for (const auto& h : net->aux_heads->children())
    EXPECT_NEAR(h->as<torch::nn::Conv3d>()->bias[1].item<double>() - h->as<torch::nn::Conv3d>()->bias[0].item<double>(),
                std::log(0.01 / 0.99), 1e-6);
  levels[2].select(1, 1).mean().backward();  // the coarsest aux head alone
  for (const auto& name : {"pet_encoder.blocks.0.mlp.fc1.weight", "aux_heads.1.weight"}) {
    const auto g = net->named_parameters()[name].grad();
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << name;
  }
  EXPECT_FALSE(net->named_parameters()["head.weight"].grad().defined());
  // Without deep supervision: no aux heads, forward_levels is forward's alone.
  SegmentationNet plain(tiny(), 4);
  EXPECT_FALSE(plain->aux_heads);
  EXPECT_EQ(plain->forward_levels(ct, pet).size(), 1u);
}

// The convolutional encoder: a stride-2 conv block per level 1..n from the input block, joined to
// every coarse skip and the bottleneck; forward keeps the window's shape and every parameter
// learns. It needs the input skip.
TEST(Unetr, ConvolutionalEncoderBesideTheViTs) {
  torch::manual_seed(8);
  SegmentationNet net(tiny(), 4, 2, "petct", /*input_skip=*/true, /*deep_supervision=*/true, /*conv_encoder=*/true);
  ASSERT_TRUE(net->down_blocks);
  EXPECT_EQ(net->down_blocks->size(), 3u);  // p = 8: levels 1, 2, 3
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  const auto levels = net->forward_levels(ct, pet);
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[0].sizes(), (std::vector<int64_t>{2, 2, 16, 32, 48}));
  EXPECT_EQ(levels[2].sizes(), (std::vector<int64_t>{2, 2, 4, 8, 12}));
  levels[0].square().sum().backward();
  for (const auto& p : net->named_parameters()) {
    if (p.key().rfind("aux_heads.", 0) == 0) continue;  // not on forward's path
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
  // Its features reach the head: changing the deepest conv level's weights changes the logits.
  {
    torch::NoGradGuard ng;
    const auto before = net->forward(ct, pet);
    net->down_blocks[2]->as<DownBlock>()->block->conv2->weight.mul_(3.0);
    EXPECT_FALSE(torch::allclose(before, net->forward(ct, pet)));
  }
  SegmentationNet plain(tiny(), 4);
  EXPECT_FALSE(plain->down_blocks);
  EXPECT_GT(count_parameters(*net), count_parameters(*plain));
  EXPECT_THROW(SegmentationNet(tiny(), 4, 2, "petct", /*input_skip=*/false, false, /*conv_encoder=*/true), Error);
}

TEST(Unetr, GradientCheckOfTheDecoderBlocks) {
  torch::manual_seed(2);
  ConvBlock block(3, 4);
  const auto x = torch::randn({1, 3, 4, 4, 4}, torch::kDouble);
  gradient_check(*block, [&] { return block->forward(x).square().sum(); });
  UpBlock up(4, 2, 3);
  const auto low = torch::randn({1, 4, 2, 2, 2}, torch::kDouble), skip = torch::randn({1, 3, 4, 4, 4}, torch::kDouble);
  gradient_check(*up, [&] { return up->forward(low, skip).square().sum(); });
  DownBlock down(3, 2);
  gradient_check(*down, [&] { return down->forward(x).square().sum(); });
  EXPECT_EQ(down->forward(x).sizes(), (std::vector<int64_t>{1, 2, 2, 2, 2}));
  UpProject proj(4, 3, 2);
  gradient_check(*proj, [&] { return proj->forward(low).square().sum(); });
}

TEST(StagingNet, ShapeAndGradient) {
  torch::manual_seed(3);
  StagingNet net(tiny(), 16, 2, /*dropout=*/0.0);
  const auto ct = torch::randn({3, 1, 16, 32, 48}), pet = torch::rand({3, 1, 16, 32, 48});
  const auto logits = net->forward(ct, pet);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 2}));
  // Gradient check on the head in double (the encoders are checked in test_model).
  auto& mlp = *net->mlp;
  const auto feats = torch::randn({3, 2 * tiny().encoder.dim}, torch::kDouble);
  gradient_check(mlp, [&] { return net->mlp->forward(feats).square().sum(); });
}

TEST(StagingNet, PoolingChoices) {
  torch::manual_seed(4);
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  // Every pooling the CLI and the fine-tuning config accept builds and trains.
  EXPECT_EQ(staging_pools_text(), "mean, max, mean-max, cls, regions or input");
  for (const std::string& pool : staging_pools()) {
    StagingNet net(tiny(), 16, 2, 0.0, pool);
    const auto logits = net->forward(ct, pet);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 2})) << pool;
    logits.sum().backward();
    EXPECT_TRUE(net->mlp->parameters()[0].grad().defined()) << pool;
    if (pool == "input") {  // no encoder at all: nothing for --init or --freeze-encoders to act on
      EXPECT_FALSE(net->pet_encoder || net->ct_encoder);
      continue;
    }
    EXPECT_TRUE(net->pet_encoder->parameters()[0].grad().defined()) << pool;  // gradients reach the encoders
  }
  // max pooling: the MLP sees the element-wise maximum of the output tokens (no CLS).
  StagingNet net(tiny(), 16, 2, 0.0, "max");
  torch::NoGradGuard ng;
  const auto p = net->pet_encoder->forward(pet).latent, c = net->ct_encoder->forward(ct).latent;
  auto mx = [](const torch::Tensor& t) { return std::get<0>(t.narrow(1, 1, t.size(1) - 1).max(1)); };
  EXPECT_TRUE(torch::allclose(net->mlp->forward(torch::cat({mx(p), mx(c)}, 1)), net->forward(ct, pet), 1e-5, 1e-6));
  // cls: the MLP sees each encoder's CLS token, [PET | CT].
  StagingNet cls(tiny(), 16, 2, 0.0, "cls");
  const auto pc = cls->pet_encoder->forward(pet).latent.select(1, 0), cc = cls->ct_encoder->forward(ct).latent.select(1, 0);
  EXPECT_TRUE(torch::allclose(cls->mlp->forward(torch::cat({pc, cc}, 1)), cls->forward(ct, pet), 1e-5, 1e-6));
  EXPECT_THROW(StagingNet(tiny(), 16, 2, 0.0, "attention"), Error);
}

// regions: the maximum of the output tokens within each of 2 (LR) x 4 (SI) regions of the token
// grid, written out here with adaptive pooling's published bounds (region i of n over a length L
// spans [floor(i L / n), ceil((i + 1) L / n))), so the regions of the tiny grid's 6 SI tokens
// overlap: [0, 2), [1, 3), [3, 5), [4, 6).
TEST(StagingNet, RegionPoolingKeepsWhereTheTokensAre) {
  torch::manual_seed(5);
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  StagingNet net(tiny(), 16, 2, 0.0, "regions");
  torch::NoGradGuard ng;
  const auto g = tiny().grid();  // (2, 4, 6)
  const int64_t C = tiny().encoder.dim, LR = StagingNetImpl::kRegionsLR, SI = StagingNetImpl::kRegionsSI;
  auto regions = [&](const torch::Tensor& latent) {  // (B, 1 + L, C) -> (B, C * LR * SI), C slowest
    const auto tok = latent.narrow(1, 1, latent.size(1) - 1).reshape({latent.size(0), g[0], g[1], g[2], C});
    auto out = torch::empty({latent.size(0), C, LR, SI});
    for (int64_t i = 0; i < LR; ++i)
      for (int64_t j = 0; j < SI; ++j) {
        const int64_t w0 = i * g[1] / LR, w1 = ((i + 1) * g[1] + LR - 1) / LR;
        const int64_t d0 = j * g[2] / SI, d1 = ((j + 1) * g[2] + SI - 1) / SI;
        const auto box = tok.narrow(2, w0, w1 - w0).narrow(3, d0, d1 - d0).reshape({latent.size(0), -1, C});
        out.select(2, i).select(2, j).copy_(std::get<0>(box.max(1)));
      }
    return out.flatten(1);
  };
  const auto p = net->pet_encoder->forward(pet).latent, c = net->ct_encoder->forward(ct).latent;
  const auto expected = net->mlp->forward(torch::cat({regions(p), regions(c)}, 1));  // (2, 2)
  EXPECT_TRUE(torch::allclose(expected, net->forward(ct, pet), 1e-5, 1e-6));
  // Unlike max pooling, a hot spot moved from the head end to the feet end changes the features.
  auto head = torch::zeros({1, 1, 16, 32, 48}), feet = torch::zeros({1, 1, 16, 32, 48});
  head.narrow(4, 0, 8).fill_(1);
  feet.narrow(4, 40, 8).fill_(1);
  StagingNet pet_only(tiny(), 16, 2, 0.0, "regions", "pet");
  const auto fh = regions(pet_only->pet_encoder->forward(head).latent), ff = regions(pet_only->pet_encoder->forward(feet).latent);
  EXPECT_GT((fh - ff).abs().max().item<double>(), 1e-3);
  EXPECT_FALSE(torch::allclose(pet_only->forward(torch::Tensor(), head), pet_only->forward(torch::Tensor(), feet)));
}

// input: no encoder; the MLP reads the maximum of each input volume within 2 (LR) x 8 (SI)
// regions, written out here with plain loops ([PET | CT], LR slowest). The test volumes' 32 x 48
// LR x SI divide evenly: regions of 16 x 6 voxels, all of AP.
TEST(StagingNet, InputPoolingReadsRegionMaximaOfTheImages) {
  torch::manual_seed(6);
  const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::rand({2, 1, 16, 32, 48});
  StagingNet net(tiny(), 16, 2, 0.0, "input");
  EXPECT_EQ(net->parameters().size(), 6u);  // LayerNorm (2) and two Linear layers (2 + 2): no encoder
  torch::NoGradGuard ng;
  const int64_t LR = StagingNetImpl::kRegionsLR, SI = StagingNetImpl::kInputRegionsSI;
  auto maxima = [&](const torch::Tensor& x) {  // (B, 1, H, W, D) -> (B, LR * SI)
    auto out = torch::empty({x.size(0), LR * SI});
    for (int64_t b = 0; b < x.size(0); ++b)
      for (int64_t i = 0; i < LR; ++i)
        for (int64_t j = 0; j < SI; ++j)
          out[b][i * SI + j] = x[b][0].narrow(1, i * 16, 16).narrow(2, j * 6, 6).max();
    return out;
  };
  const auto expected = net->mlp->forward(torch::cat({maxima(pet), maxima(ct)}, 1));
  EXPECT_TRUE(torch::allclose(expected, net->forward(ct, pet), 1e-5, 1e-6));
  // One hot voxel moved from the head end to the feet end changes the prediction; PET alone works.
  StagingNet pet_only(tiny(), 16, 2, 0.0, "input", "pet");
  auto head = torch::zeros({1, 1, 16, 32, 48}), feet = torch::zeros({1, 1, 16, 32, 48});
  head[0][0][8][10][2] = 5;
  feet[0][0][8][10][45] = 5;
  EXPECT_FALSE(torch::allclose(pet_only->forward(torch::Tensor(), head), pet_only->forward(torch::Tensor(), feet)));
  // Gradient check of the whole network in double (the maxima route the gradient to one voxel each).
  StagingNet d(tiny(), 16, 2, 0.0, "input");
  d->to(torch::kDouble);
  const auto pd = torch::rand({2, 1, 16, 32, 48}, torch::kDouble), cd = torch::randn({2, 1, 16, 32, 48}, torch::kDouble);
  torch::AutoGradMode on(true);
  gradient_check(*d, [&] { return d->forward(cd, pd).square().sum(); });
}

// UpBlock and UpProject compute the 2x transposed convolution as a matrix product; the result
// must be the module's own ConvTranspose3d forward (LibTorch's kernel), with either GEMM backend.
TEST(Unetr, UpSamplingProductEqualsTransposedConvolution) {
  torch::manual_seed(3);
  UpProject proj(6, 5, 1);  // one transposed convolution, no conv block after it
  auto* conv = proj->ups[0]->as<torch::nn::ConvTranspose3d>();
  const auto x = torch::randn({2, 6, 3, 4, 5});
  const auto expected = conv->forward(x);  // (2, 5, 6, 8, 10)
  for (const char* backend : {"libtorch", "onednn"}) {
    gemm::set_backend(backend);
    const auto y = proj->forward(x);
    EXPECT_EQ(y.sizes(), expected.sizes()) << backend;
    EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-5)) << backend << " max diff "
                                                         << (y - expected).abs().max().item<double>();
  }
  gemm::set_backend("libtorch");
}

// ... and so must its gradients, to the input (the encoders' tokens) and to the weights.
TEST(Unetr, UpSamplingProductGradientsEqualTheTransposedConvolutions) {
  torch::manual_seed(4);
  UpProject proj(6, 5, 1);
  auto* conv = proj->ups[0]->as<torch::nn::ConvTranspose3d>();
  const auto x0 = torch::randn({2, 6, 3, 4, 5}), gy = torch::randn({2, 5, 6, 8, 10});
  auto xr = x0.clone().requires_grad_(true);
  (conv->forward(xr) * gy).sum().backward();
  const auto gx_ref = xr.grad().clone(), gw_ref = conv->weight.grad().clone();
  for (const char* backend : {"libtorch", "onednn"}) {
    gemm::set_backend(backend);
    conv->weight.mutable_grad() = at::Tensor();
    auto x = x0.clone().requires_grad_(true);
    (proj->forward(x) * gy).sum().backward();
    EXPECT_TRUE(torch::allclose(x.grad(), gx_ref, 1e-4, 1e-5)) << backend << " input gradient max diff "
                                                              << (x.grad() - gx_ref).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(conv->weight.grad(), gw_ref, 1e-4, 1e-5))
        << backend << " weight gradient max diff " << (conv->weight.grad() - gw_ref).abs().max().item<double>();
  }
  gemm::set_backend("libtorch");
}

// One modality (PET-only studies, the paper's next step): only that encoder exists, the other
// input is not read (it may be undefined), and gradients reach the encoder that is there.
TEST(Unetr, OneModalityHasOneEncoderAndIgnoresTheOtherInput) {
  torch::manual_seed(5);
  const auto x = torch::rand({1, 1, 16, 32, 48});
  for (const char* m : {"pet", "ct"}) {
    SegmentationNet net(tiny(), 4, 2, m);
    const std::string kept = std::string(m) + "_encoder.", gone = std::string(m) == "pet" ? "ct_encoder." : "pet_encoder.";
    bool has_kept = false;
    for (const auto& p : net->named_parameters()) {
      EXPECT_NE(p.key().rfind(gone, 0), 0u) << p.key();
      has_kept = has_kept || p.key().rfind(kept, 0) == 0;
    }
    EXPECT_TRUE(has_kept) << m;
    const auto y = std::string(m) == "pet" ? net->forward(at::Tensor(), x) : net->forward(x, at::Tensor());
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 2, 16, 32, 48})) << m;
    y.select(1, 1).mean().backward();
    const auto g = net->named_parameters()[kept + "blocks.0.mlp.fc1.weight"].grad();
    ASSERT_TRUE(g.defined()) << m;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << m;
    // The unused input does not matter.
    torch::NoGradGuard ng;
    net->eval();
    const auto other = torch::randn({1, 1, 16, 32, 48});
    const auto a = std::string(m) == "pet" ? net->forward(other, x) : net->forward(x, other);
    const auto b = std::string(m) == "pet" ? net->forward(at::Tensor(), x) : net->forward(x, at::Tensor());
    EXPECT_TRUE(torch::equal(a, b)) << m;
  }
  EXPECT_THROW(SegmentationNet(tiny(), 4, 2, "mri"), Error);
}

TEST(StagingNet, OneModality) {
  torch::manual_seed(6);
  const auto x = torch::rand({2, 1, 16, 32, 48});
  StagingNet pet(tiny(), 16, 2, 0.0, "mean-max", "pet");
  EXPECT_FALSE(pet->ct_encoder);
  EXPECT_EQ(pet->forward(at::Tensor(), x).sizes(), (std::vector<int64_t>{2, 2}));
  StagingNet ct(tiny(), 16, 2, 0.0, "mean", "ct");
  EXPECT_FALSE(ct->pet_encoder);
  EXPECT_EQ(ct->forward(x, at::Tensor()).sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_THROW(StagingNet(tiny(), 16, 2, 0.0, "mean", "both"), Error);
}
