#include "model/fratmae.h"

#include "model/patch.h"

namespace fratmae::model {

std::pair<torch::Tensor, torch::Tensor> masked_squared_error(const torch::Tensor& pred, torch::Tensor target,
                                                             const torch::Tensor& mask, bool norm_pix) {
  if (norm_pix) {
    const auto mean = target.mean(-1, true), var = target.var(-1, /*unbiased=*/true, true);
    target = (target - mean) / (var + 1e-6).sqrt();
  }
  const auto per_token = (pred - target).square().mean(-1);  // (B, L)
  return {(per_token * mask).sum(), mask.sum()};
}

FratMaeImpl::FratMaeImpl(const ModelConfig& c) : cfg(c) {
  cfg.validate();
  const auto grid = cfg.grid();
  pet_encoder = register_module("pet_encoder", ViTEncoder(cfg.encoder, cfg.patch, grid));
  ct_encoder = register_module("ct_encoder", ViTEncoder(cfg.encoder, cfg.patch, grid));
  const bool cross = cfg.cross_decoder();
  pet_decoder = register_module("pet_decoder", Decoder(cfg.decoder, cfg.encoder.dim, cfg.patch, grid, cross));
  ct_decoder = register_module("ct_decoder", Decoder(cfg.decoder, cfg.encoder.dim, cfg.patch, grid, cross));
  if (cfg.context_align()) {
    text_encoder = register_module("text_encoder", TextEncoder(cfg.text));
    align = register_module("align", ContextAlign(cfg.encoder.dim, cfg.text.embed_dim, cfg.temperature,
                                                  cfg.symmetric_align));
  }
}

namespace {
struct GroupResult {
  torch::Tensor sq_err, count, pet_cls, pred, mask;
};
}  // namespace

FratMaeOutput FratMaeImpl::forward(const torch::Tensor& ct, const torch::Tensor& pet, const torch::Tensor& text_ids,
                                   const ForwardOptions& opt) {
  const int64_t B = pet.size(0), L = cfg.num_tokens(), P = cfg.patch * cfg.patch * cfg.patch;
  FratMaeOutput out;
  out.pred_pet = torch::zeros({B, L, P}, pet.options());
  out.pred_ct = torch::zeros({B, L, P}, pet.options());
  out.mask_pet = torch::zeros({B, L}, pet.options());
  out.mask_ct = torch::zeros({B, L}, pet.options());
  torch::Tensor sq_err = torch::zeros({}, pet.options()), count = torch::zeros({}, pet.options());
  torch::Tensor pet_cls;  // (B, C)
  const auto draw = [&]() {
    return opt.gen ? torch::rand({1}, *opt.gen).item<double>() : torch::rand({1}).item<double>();
  };
  // Masking noise (B, L) for this process' rows, drawn on the CPU for the global batch.
  const int64_t global = opt.global_batch > 0 ? opt.global_batch : B;
  const auto draw_noise = [&]() {
    const auto n = opt.gen ? torch::rand({global, L}, *opt.gen, torch::kFloat) : torch::rand({global, L}, torch::kFloat);
    return n.narrow(0, opt.sample_offset, B).to(pet.device());
  };

  if (cfg.cross_decoder()) {
    // Which modality is masked, per sample.
    std::vector<bool> is_pet(B);
    if (opt.target != Target::kDraw) {
      std::fill(is_pet.begin(), is_pet.end(), opt.target == Target::kPet);
    } else if (cfg.mask_draw == "step") {
      std::fill(is_pet.begin(), is_pet.end(), draw() < 0.5);
    } else {
      for (int64_t b = 0; b < global; ++b) {
        const bool p = draw() < 0.5;
        if (b >= opt.sample_offset && b < opt.sample_offset + B) is_pet[b - opt.sample_offset] = p;
      }
    }
    const torch::Tensor noise = draw_noise();  // (B, L)
    out.target_is_pet = torch::zeros({B}, torch::kBool);
    for (int64_t b = 0; b < B; ++b) out.target_is_pet[b] = static_cast<bool>(is_pet[b]);
    pet_cls = torch::zeros({B, cfg.encoder.dim}, pet.options());
    for (bool target_pet : {true, false}) {
      std::vector<int64_t> idx;
      for (int64_t b = 0; b < B; ++b)
        if (is_pet[b] == target_pet) idx.push_back(b);
      if (idx.empty()) continue;
      const auto sel = torch::tensor(idx, torch::TensorOptions().dtype(torch::kLong).device(pet.device()));
      const auto x_s = (target_pet ? pet : ct).index_select(0, sel);       // masked modality S
      const auto x_o = (target_pet ? ct : pet).index_select(0, sel);       // fully visible
      ViTEncoder& enc_s = target_pet ? pet_encoder : ct_encoder;
      ViTEncoder& enc_o = target_pet ? ct_encoder : pet_encoder;
      const EncoderOutput zs = enc_s->forward(x_s, cfg.mask_ratio, std::nullopt, noise.index_select(0, sel));  // eq. 1
      const EncoderOutput zo = enc_o->forward(x_o, 0.0);                       // eq. 1, S-bar whole
      Decoder& dec = target_pet ? pet_decoder : ct_decoder;
      const auto pred = dec->forward(zs.latent, zs.masking.ids_restore, zo.latent);  // eq. 2
      const auto [e, n] = masked_squared_error(pred, patchify(x_s, cfg.patch), zs.masking.mask, cfg.norm_pix_loss);
      sq_err = sq_err + e;
      count = count + n;
      (target_pet ? out.pred_pet : out.pred_ct).index_copy_(0, sel, pred.detach().to(pet.scalar_type()));  // bf16 under autocast
      (target_pet ? out.mask_pet : out.mask_ct).index_copy_(0, sel, zs.masking.mask);
      const auto cls = (target_pet ? zs : zo).latent.select(1, 0);  // PET CLS, (b, C)
      pet_cls = pet_cls.index_copy(0, sel, cls.to(pet_cls.scalar_type()));
    }
    out.mse = sq_err / count.clamp_min(1);
  } else {
    // MAE: each modality masked and reconstructed on its own.
    const torch::Tensor noise_pet = draw_noise(), noise_ct = draw_noise();
    const EncoderOutput zp = pet_encoder->forward(pet, cfg.mask_ratio, std::nullopt, noise_pet);
    const EncoderOutput zc = ct_encoder->forward(ct, cfg.mask_ratio, std::nullopt, noise_ct);
    const auto pp = pet_decoder->forward(zp.latent, zp.masking.ids_restore);
    const auto pc = ct_decoder->forward(zc.latent, zc.masking.ids_restore);
    const auto [ep, np] = masked_squared_error(pp, patchify(pet, cfg.patch), zp.masking.mask, cfg.norm_pix_loss);
    const auto [ec, nc] = masked_squared_error(pc, patchify(ct, cfg.patch), zc.masking.mask, cfg.norm_pix_loss);
    out.mse = 0.5 * (ep / np.clamp_min(1) + ec / nc.clamp_min(1));
    out.pred_pet = pp.detach();
    out.pred_ct = pc.detach();
    out.mask_pet = zp.masking.mask;
    out.mask_ct = zc.masking.mask;
    pet_cls = zp.latent.select(1, 0);
  }
  out.loss = out.mse;
  if (cfg.context_align()) {
    torch::Tensor text = text_encoder->forward(text_ids);
    if (opt.gather_rows) {  // eq. 4 over every process' samples
      pet_cls = opt.gather_rows(pet_cls);
      text = opt.gather_rows(text);
    }
    out.align = align->forward(pet_cls, text);  // eq. 4
    out.loss = out.loss + cfg.align_weight * out.align;
  }
  return out;
}

int64_t count_parameters(const torch::nn::Module& m, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : m.parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace fratmae::model
