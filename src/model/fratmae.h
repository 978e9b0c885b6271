// FratMAE (paper section 2): PET and CT ViT encoders, one decoder per modality, and
// ContextAlign, assembled for the paper's variants (model/config.h):
//
//   fratmae / fratmae-noalign: a target modality S is drawn (per step or per sample); 50% of
//     S's tokens are masked, the other modality is fully visible (eq. 1); S's cross-attention
//     decoder reconstructs S with keys/values from the other's encoding (eq. 2); MSE on S's
//     masked tokens (eq. 3).
//   mae / mae-align: both modalities masked, each reconstructed by its own self-attention
//     decoder; the loss is the mean of the two MSEs.
//   ContextAlign (fratmae, mae-align): InfoNCE (eq. 4) between the PET encoder's CLS token
//     and the CLIP text feature of the case's prompt; total = MSE + align_weight * InfoNCE.
#pragma once

#include <torch/torch.h>

#include <functional>

#include <optional>

#include "model/config.h"
#include "model/context_align.h"
#include "model/decoder.h"
#include "model/text_encoder.h"
#include "model/vit_encoder.h"

namespace fratmae::model {

enum class Target { kDraw, kCt, kPet };

struct ForwardOptions {
  Target target = Target::kDraw;           // which modality to mask (FratMAE); kDraw = random
  std::optional<torch::Generator> gen;     // CPU generator for the draws (determinism)
  // Data parallelism: this process holds rows [sample_offset, sample_offset + B) of a global
  // batch of global_batch samples; draws are made for the global batch and sliced, so the
  // processes together do exactly what one process does with the whole batch. 0 = off.
  int64_t sample_offset = 0, global_batch = 0;
  // InfoNCE over the global batch (eq. 4 sums over all N samples, not each process' rows):
  // maps this process' (B, C) features to all processes' (N, C), its own rows differentiable
  // (train::ProcessGroup::all_gather_rows). Empty: one process, the batch is the global batch.
  std::function<torch::Tensor(const torch::Tensor&)> gather_rows;
};

struct FratMaeOutput {
  torch::Tensor loss;        // scalar: mse + align_weight * align
  torch::Tensor mse;         // scalar, eq. 3
  torch::Tensor align;       // scalar InfoNCE (undefined without ContextAlign)
  torch::Tensor pred_pet, pred_ct;  // (B, L, p^3) predictions (rows of unmasked-target samples are zero)
  torch::Tensor mask_pet, mask_ct;  // (B, L) 1 = masked (zeros where the modality was visible)
  torch::Tensor target_is_pet;      // (B) bool: the masked modality per sample (FratMAE)
};

/// Squared error summed over masked tokens and the number of masked tokens (eq. 3);
/// pred, target: (B, L, P); mask: (B, L). With norm_pix the target is normalised per patch.
std::pair<torch::Tensor, torch::Tensor> masked_squared_error(const torch::Tensor& pred, torch::Tensor target,
                                                             const torch::Tensor& mask, bool norm_pix);

struct FratMaeImpl : torch::nn::Module {
  explicit FratMaeImpl(const ModelConfig& cfg);
  /// ct, pet: (B, 1, H, W, D) normalised; text_ids: (B, 77) int64 (ignored without ContextAlign).
  FratMaeOutput forward(const torch::Tensor& ct, const torch::Tensor& pet, const torch::Tensor& text_ids,
                        const ForwardOptions& opt = {});

  ModelConfig cfg;
  ViTEncoder pet_encoder{nullptr}, ct_encoder{nullptr};
  Decoder pet_decoder{nullptr}, ct_decoder{nullptr};
  TextEncoder text_encoder{nullptr};
  ContextAlign align{nullptr};
};
TORCH_MODULE(FratMae);

/// Number of parameters of a module (all, or only trainable).
int64_t count_parameters(const torch::nn::Module& m, bool trainable_only = false);

}  // namespace fratmae::model
