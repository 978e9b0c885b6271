#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/fratmae.h"
#include "model/patch.h"
#include "model_test_util.h"
#include "test_util.h"

using namespace fratmae;
using namespace fratmae::model;
using fratmae::test::gradient_check;

namespace {

ModelConfig tiny(const std::string& method = "fratmae") { return ModelConfig::preset_config("tiny", method); }

torch::Tensor prompt_ids(int64_t B, int64_t T = 77) {
  auto ids = torch::zeros({B, T}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    ids[b][0] = 49406;
    ids[b][1] = 300 + b;
    ids[b][2] = 1000 + 7 * b;
    ids[b][3] = 49407;
  }
  return ids;
}

}  // namespace

TEST(Patch, PatchifyUnpatchifyRoundTripAndLayout) {
  const auto x = torch::randn({2, 1, 8, 12, 16});
  const auto t = patchify(x, 4);  // grid 2 x 3 x 4
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 24, 64}));
  EXPECT_TRUE(torch::equal(unpatchify(t, 4, {2, 3, 4}, 1), x));
  // Token (h=1, w=2, d=3), voxel (i=1, j=2, k=3) inside it.
  const int64_t token = (1 * 3 + 2) * 4 + 3, within = (1 * 4 + 2) * 4 + 3;
  EXPECT_EQ(t[1][token][within].item<float>(), x[1][0][1 * 4 + 1][2 * 4 + 2][3 * 4 + 3].item<float>());
}

TEST(Patch, SinCosPositionEmbedding) {
  const auto pe = sincos_pos_embed_3d({2, 3, 4}, 48);
  ASSERT_EQ(pe.sizes(), (std::vector<int64_t>{24, 48}));
  // Position 0 along every axis: sines 0, cosines 1.
  EXPECT_TRUE(torch::allclose(pe[0].slice(0, 0, 8), torch::zeros({8})));
  EXPECT_TRUE(torch::allclose(pe[0].slice(0, 8, 16), torch::ones({8})));
  // H part of token (h=1, ...) is sin(1 * omega_0) = sin(1) in its first entry.
  EXPECT_NEAR(pe[12][0].item<float>(), std::sin(1.0), 1e-6);
  // Every token distinct.
  EXPECT_EQ(std::get<0>(torch::unique_dim(pe, 0)).size(0), 24);
  // Uneven split (512 = 170 + 170 + 172).
  EXPECT_EQ(sincos_pos_embed_3d({2, 10, 12}, 512).size(1), 512);
}

TEST(Masking, ContractsMatchMae) {
  const auto noise = torch::tensor({{0.9, 0.1, 0.5, 0.3}, {0.2, 0.8, 0.6, 0.4}}, torch::kFloat);
  const Masking m = random_masking(2, 4, 0.5, torch::TensorOptions(), std::nullopt, noise);
  // Keep the two smallest-noise tokens; mask: 0 keep, 1 remove, in original order.
  EXPECT_TRUE(torch::equal(m.mask, torch::tensor({{1.f, 0.f, 1.f, 0.f}, {0.f, 1.f, 1.f, 0.f}})));
  EXPECT_TRUE(torch::equal(m.ids_keep, torch::tensor({{1, 3}, {0, 3}})));
  // [kept, removed] gathered with ids_restore is the original order.
  const auto ids_shuffle = noise.argsort(int64_t{1}, false);
  EXPECT_TRUE(torch::equal(ids_shuffle.gather(1, m.ids_restore), torch::arange(4).expand({2, 4})));
  EXPECT_EQ(m.mask.sum().item<float>(), 4.0f);
}

TEST(Blocks, ShapesAndGradients) {
  torch::manual_seed(0);
  Block blk(12, 3, 2.0);
  CrossBlock cross(12, 3, 2.0);
  const auto x = torch::randn({2, 5, 12}, torch::kDouble), ctx = torch::randn({2, 7, 12}, torch::kDouble);
  blk->to(torch::kDouble);
  EXPECT_EQ(blk->forward(x).sizes(), x.sizes());
  gradient_check(*blk, [&] { return blk->forward(x).square().sum(); });
  gradient_check(*cross, [&] { return cross->forward(x, ctx).square().sum(); });
  PatchEmbed3d pe(1, 12, 4);
  const auto v = torch::randn({1, 1, 8, 8, 8}, torch::kDouble);
  gradient_check(*pe, [&] { return pe->forward(v).square().sum(); });
}

TEST(Encoder, MaskedAndFullForward) {
  torch::manual_seed(0);
  const ModelConfig c = tiny();
  ViTEncoder enc(c.encoder, c.patch, c.grid());
  const auto x = torch::randn({3, 1, 16, 32, 48});
  const EncoderOutput full = enc->forward(x);
  EXPECT_EQ(full.latent.sizes(), (std::vector<int64_t>{3, 1 + c.num_tokens(), c.encoder.dim}));
  EXPECT_EQ(full.hidden.size(), static_cast<size_t>(c.encoder.depth));
  EXPECT_FALSE(full.masking.mask.defined());
  const EncoderOutput half = enc->forward(x, 0.5);
  EXPECT_EQ(half.latent.size(1), 1 + c.num_tokens() / 2);
  EXPECT_EQ(half.masking.mask.sum().item<float>(), 3 * c.num_tokens() / 2);
  const auto xd = torch::randn({1, 1, 16, 32, 48}, torch::kDouble);
  const auto noise = torch::rand({1, c.num_tokens()}, torch::kDouble);
  gradient_check(*enc, [&] { return enc->forward(xd, 0.5, std::nullopt, noise).latent.square().mean(); });
}

TEST(Decoder, CrossAndPlainShapesAndGradients) {
  torch::manual_seed(0);
  const ModelConfig c = tiny();
  for (bool cross : {true, false}) {
    Decoder dec(c.decoder, c.encoder.dim, c.patch, c.grid(), cross);
    dec->to(torch::kDouble);
    const int64_t L = c.num_tokens();
    const auto latent = torch::randn({2, 1 + L / 2, c.encoder.dim}, torch::kDouble);
    const auto context = torch::randn({2, 1 + L, c.encoder.dim}, torch::kDouble);
    const auto restore = torch::rand({2, L}).argsort(int64_t{1}, false);
    const auto pred = dec->forward(latent, restore, context);
    EXPECT_EQ(pred.sizes(), (std::vector<int64_t>{2, L, c.patch * c.patch * c.patch}));
    gradient_check(*dec, [&] { return dec->forward(latent, restore, context).square().mean(); });
  }
}

TEST(TextEncoder, CausalPoolingAtEndOfText) {
  torch::manual_seed(0);
  TextConfig tc{49408, 77, 32, 2, 4, 16};
  TextEncoder enc(tc);
  auto ids = prompt_ids(2);
  const auto a = enc->forward(ids);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 16}));
  // Tokens after the end-of-text token cannot change the feature (causal mask, EOT pooling).
  auto ids2 = ids.clone();
  ids2[0][10] = 555;
  EXPECT_TRUE(torch::allclose(enc->forward(ids2), a, 1e-5, 1e-6));
  // A token before it does.
  ids2[0][2] = 556;
  EXPECT_FALSE(torch::allclose(enc->forward(ids2)[0], a[0], 1e-4, 1e-5));
  TextConfig small{100, 8, 12, 1, 3, 6};
  TextEncoder e2(small);
  const auto ids3 = torch::tensor({{1, 5, 99, 0, 0, 0, 0, 0}}, torch::kLong);
  gradient_check(*e2, [&] { return e2->forward(ids3).square().sum(); });
}

TEST(ContextAlign, InfoNceEqualsHandComputedValues) {
  const auto eye = torch::eye(2);
  const auto log_inv_tau = torch::full({}, std::log(2.0));  // tau = 0.5
  // logits [[2, 0], [0, 2]]: loss = log(1 + e^-2) both ways.
  EXPECT_NEAR(info_nce(eye, eye, log_inv_tau, false).item<double>(), std::log(1 + std::exp(-2.0)), 1e-6);
  // z_b = [[1, 0], [1, 0]]: logits [[2, 2], [0, 0]]. a->b: log 2 for both rows;
  // b->a: rows [2, 0] and [2, 0] with targets 0, 1: (log(1 + e^-2) + log(1 + e^2)) / 2.
  const auto zb = torch::tensor({{1.f, 0.f}, {3.f, 0.f}});  // normalised to [1, 0]
  EXPECT_NEAR(info_nce(eye, zb, log_inv_tau, false).item<double>(), std::log(2.0), 1e-6);
  const double ba = 0.5 * (std::log(1 + std::exp(-2.0)) + std::log(1 + std::exp(2.0)));
  EXPECT_NEAR(info_nce(eye, zb, log_inv_tau, true).item<double>(), 0.5 * (std::log(2.0) + ba), 1e-6);
  ContextAlign al(8, 4, 0.07, true);
  EXPECT_NEAR(al->log_inv_tau.item<double>(), std::log(1 / 0.07), 1e-6);
  const auto p = torch::randn({3, 8}, torch::kDouble), t = torch::randn({3, 4}, torch::kDouble);
  gradient_check(*al, [&] { return al->forward(p, t); });
}

TEST(Loss, IgnoresVisibleTokensAndMatchesHandValue) {
  const auto target = torch::zeros({1, 3, 2});
  auto pred = torch::tensor({{{1.f, 1.f}, {2.f, 0.f}, {5.f, 5.f}}});
  const auto mask = torch::tensor({{1.f, 1.f, 0.f}});  // third token visible
  auto [e, n] = masked_squared_error(pred, target, mask, false);
  EXPECT_FLOAT_EQ((e / n).item<float>(), (1.0f + 2.0f) / 2.0f);  // per-token means 1 and 2
  pred[0][2] = torch::tensor({100.f, -100.f});
  auto [e2, n2] = masked_squared_error(pred, target, mask, false);
  EXPECT_FLOAT_EQ(e2.item<float>(), e.item<float>());
}

TEST(FratMae, VariantsAreSwitchesOfOneModel) {
  FratMae f(tiny("fratmae")), noalign(tiny("fratmae-noalign")), mae(tiny("mae")), mae_align(tiny("mae-align"));
  EXPECT_TRUE(f->pet_decoder->cross);
  EXPECT_TRUE(f->text_encoder);
  EXPECT_FALSE(noalign->text_encoder);
  EXPECT_FALSE(mae->pet_decoder->cross);
  EXPECT_FALSE(mae->text_encoder);
  EXPECT_TRUE(mae_align->text_encoder);
  EXPECT_FALSE(mae_align->pet_decoder->cross);
  EXPECT_THROW(ModelConfig::preset_config("tiny", "bert"), Error);
}

TEST(FratMae, GradientsReachEveryParameter) {
  for (const char* method : {"fratmae", "mae-align"}) {
    torch::manual_seed(0);
    FratMae m(tiny(method));
    const auto ct = torch::randn({2, 1, 16, 32, 48}), pet = torch::randn({2, 1, 16, 32, 48});
    ForwardOptions o;
    o.target = Target::kPet;
    auto loss = m->forward(ct, pet, prompt_ids(2), o).loss;
    o.target = Target::kCt;
    loss = loss + m->forward(ct, pet, prompt_ids(2), o).loss;
    loss.backward();
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << method << ": " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << method << ": " << p.key();
    }
  }
}

TEST(FratMae, AsymmetricMaskingPerStepAndPerSample) {
  torch::manual_seed(0);
  ModelConfig c = tiny();
  c.mask_draw = "sample";
  FratMae m(c);
  const auto ct = torch::randn({8, 1, 16, 32, 48}), pet = torch::randn({8, 1, 16, 32, 48});
  ForwardOptions o;
  o.gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const FratMaeOutput out = m->forward(ct, pet, prompt_ids(8), o);
  const int64_t L = c.num_tokens();
  for (int64_t b = 0; b < 8; ++b) {
    const bool is_pet = out.target_is_pet[b].item<bool>();
    // Exactly half of the masked modality's tokens are masked; the other is fully visible.
    EXPECT_EQ((is_pet ? out.mask_pet : out.mask_ct)[b].sum().item<float>(), L / 2);
    EXPECT_EQ((is_pet ? out.mask_ct : out.mask_pet)[b].sum().item<float>(), 0);
  }
  const auto n_pet = out.target_is_pet.sum().item<int64_t>();
  EXPECT_GT(n_pet, 0);
  EXPECT_LT(n_pet, 8);
  EXPECT_GT(out.align.item<double>(), 0);
}

TEST(ModelConfig, PresetWithEncoderValuesChanged) {
  const ModelConfig c = ModelConfig::preset_config("tiny:patch=4,depth=3,dim=96,heads=6");
  const ModelConfig t = ModelConfig::preset_config("tiny");
  EXPECT_EQ(c.patch, 4);
  EXPECT_EQ(c.encoder.depth, 3);
  EXPECT_EQ(c.encoder.dim, 96);
  EXPECT_EQ(c.encoder.heads, 6);
  EXPECT_EQ(c.decoder.dim, t.decoder.dim);  // the rest is the preset's
  EXPECT_EQ(c.input, t.input);
  EXPECT_EQ(c.num_tokens(), 4 * 8 * 12);
  // Saved and read back (run folders, checkpoints) as the same model.
  const ModelConfig r = ModelConfig::from_json(c.to_json());
  EXPECT_EQ(r.to_json(), c.to_json());
  EXPECT_EQ(r.preset, "tiny:patch=4,depth=3,dim=96,heads=6");
  for (const char* bad : {"tiny:patch=5", "tiny:depth=0", "tiny:width=3", "tiny:dim", "tiny:dim=6x", "tiny:dim=66,heads=4x",
                          "huge:dim=64", "tiny:dim=66"})
    EXPECT_THROW(ModelConfig::preset_config(bad), Error) << bad;
}

TEST(FratMae, PaperPresetParameterCounts) {
  const ModelConfig c = ModelConfig::preset_config("paper");
  EXPECT_EQ(c.num_tokens(), 240);
  FratMae m(c);
  // ViT-B's 12 transformer blocks: 12 x (4 * 768^2 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768).
  EXPECT_EQ(count_parameters(*m->pet_encoder->blocks), 85054464);
  // CLIP's text tower (ViT-B/32 and ViT-B/16 CLIP): 63,428,096 parameters.
  EXPECT_EQ(count_parameters(*m->text_encoder), 63428096);
  std::cout << "[ params ] paper preset: PET encoder " << count_parameters(*m->pet_encoder) << ", CT encoder "
            << count_parameters(*m->ct_encoder) << ", PET decoder " << count_parameters(*m->pet_decoder)
            << ", CT decoder " << count_parameters(*m->ct_decoder) << ", text " << count_parameters(*m->text_encoder)
            << ", align " << count_parameters(*m->align) << ", total " << count_parameters(*m) << "\n";
}

TEST(ClipWeights, LoadOpenClipAndHuggingFaceNamesAndRejectWrongShapes) {
  torch::manual_seed(0);
  TextConfig tc{49408, 77, 32, 2, 4, 16};
  TextEncoder src(tc);
  test::TempDir tmp;
  // open_clip naming under a prefix, with unrelated tensors beside.
  std::map<std::string, at::Tensor> oc;
  for (const auto& p : src->named_parameters()) oc["text." + p.key()] = p.value().detach();
  oc["visual.proj"] = torch::zeros({3});
  save_safetensors(tmp / "oc.safetensors", oc);
  TextEncoder dst(tc);
  load_clip_text_weights(dst, tmp / "oc.safetensors");
  const auto ids = prompt_ids(2);
  EXPECT_TRUE(torch::allclose(dst->forward(ids), src->forward(ids)));
  // Hugging Face naming: separate q/k/v, fc1/fc2, projection as a Linear (transposed).
  std::map<std::string, at::Tensor> hf;
  for (const auto& p : src->named_parameters()) {
    const std::string& n = p.key();
    const auto t = p.value().detach();
    if (n == "token_embedding.weight") hf["text_model.embeddings.token_embedding.weight"] = t;
    else if (n == "positional_embedding") hf["text_model.embeddings.position_embedding.weight"] = t;
    else if (n == "text_projection") hf["text_projection.weight"] = t.t().contiguous();
    else if (n.rfind("ln_final.", 0) == 0) hf["text_model.final_layer_norm." + n.substr(9)] = t;
    else {
      const std::string idx = n.substr(22, n.find('.', 22) - 22), tail = n.substr(n.find('.', 22) + 1);
      const std::string base = "text_model.encoder.layers." + idx + ".";
      if (tail == "attn.in_proj_weight" || tail == "attn.in_proj_bias") {
        const auto parts = t.chunk(3, 0);
        const std::string kind = tail == "attn.in_proj_weight" ? "weight" : "bias";
        hf[base + "self_attn.q_proj." + kind] = parts[0].contiguous();
        hf[base + "self_attn.k_proj." + kind] = parts[1].contiguous();
        hf[base + "self_attn.v_proj." + kind] = parts[2].contiguous();
      } else {
        std::string m = tail;
        for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
                 {"attn.out_proj.", "self_attn.out_proj."}, {"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."},
                 {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."}})
          if (m.rfind(a, 0) == 0) m = b + m.substr(a.size());
        hf[base + m] = t;
      }
    }
  }
  save_safetensors(tmp / "hf.safetensors", hf);
  TextEncoder dst2(tc);
  load_clip_text_weights(dst2, tmp / "hf.safetensors");
  EXPECT_TRUE(torch::allclose(dst2->forward(ids), src->forward(ids)));
  // A wrong shape is refused, naming the tensor.
  oc["text.ln_final.weight"] = torch::zeros({31});
  save_safetensors(tmp / "bad.safetensors", oc);
  try {
    load_clip_text_weights(dst, tmp / "bad.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ln_final.weight"), std::string::npos) << e.what();
  }
  save_safetensors(tmp / "none.safetensors", {{"x", torch::zeros({2})}});
  EXPECT_THROW(load_clip_text_weights(dst, tmp / "none.safetensors"), Error);
}

TEST(FratMae, TinyOverfitsOneBatch) {
  torch::manual_seed(0);
  FratMae m(tiny());
  // Image-like inputs: smooth random fields (low-resolution noise, trilinearly upsampled).
  auto smooth = [] {
    return torch::upsample_trilinear3d(torch::randn({2, 1, 3, 5, 7}), {16, 32, 48}, /*align_corners=*/true);
  };
  const auto ct = smooth(), pet = smooth().abs();
  const auto ids = prompt_ids(2);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(2e-3));
  // The reconstruction must fall by 10x; the 2-pair InfoNCE must reach well below ln 2 at some
  // point (late in the run it may sit near ln 2 again depending on the rounding of the
  // thread count and the GEMM, so the final total loss is not a stable criterion).
  double first = 0, last = 0, first_mse = 0, last_mse = 0, min_align = 1e9;
  for (int step = 0; step < 200; ++step) {
    ForwardOptions o;
    o.gen = at::make_generator<at::CPUGeneratorImpl>(42);  // the same masks every step
    const auto out = m->forward(ct, pet, ids, o);
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    if (step == 0) first = out.loss.item<double>(), first_mse = out.mse.item<double>();
    last = out.loss.item<double>();
    last_mse = out.mse.item<double>();
    min_align = std::min(min_align, out.align.item<double>());
    if (step == 199) std::cout << "[ values ] final mse " << out.mse.item<double>() << ", infonce " << out.align.item<double>() << "\n";
  }
  std::cout << "[ values ] tiny FratMAE one-batch loss: step 0 " << first << ", step 199 " << last << "\n";
  EXPECT_LT(last_mse, first_mse / 10);
  EXPECT_LT(min_align, 0.5);
}
