// Lesion segmentation network (paper §2.4): the PET and CT ViT encoders, their features
// concatenated layer by layer, and a UNETR-style CNN decoder with skips.
//
// With patch p = 2^n the decoder has n + 1 resolution levels: level 0 is the input's, level n
// the token grid's. Channels at level l: feature_size * 2^l.
//   bottleneck  [PET | CT] final encoder outputs (B, 2C, grid)              level n
//   skip l >= 1 [PET | CT] hidden states of block depth * (4 - (n - l)) / 4 (for ViT-B with
//               p = 16: blocks 9, 6, 3 at levels 3, 2, 1), projected up by n - l transposed
//               convolutions (UNETR's "PrUp" blocks)
//   skip 0      a convolution block on the input [CT, PET]
//   conv l      with a convolutional encoder (conv_encoder; not in the paper): a stride-2 3x3x3
//               convolution from level l - 1 and a conv block, levels 1..n, starting from skip 0;
//               concatenated to skip l (and at level n to the bottleneck). A U-Net's encoder
//               beside the ViTs: its view grows to tens of voxels from the raw input, where the
//               full-resolution convolutions alone see about 9 voxels (docs/experiments.md: the
//               inside of a large lesion is what they cannot tell from an organ)
//   up l        transposed convolution from level l + 1, concatenated with skip l, conv block
//   head        1x1x1 convolution to `classes` logits at level 0; its bias starts at the
//               foreground prior (p = 0.01 per foreground class: lesions are rare)
//   aux heads   with deep supervision (nnU-Net's): a 1x1x1 convolution to logits on the output
//               of the up block of every level 1..n-1, trained against the truth pooled to that
//               level (train/seg_loss.h); inference uses the level-0 head alone. They give the
//               encoders' path a gradient of its own: without them the full-resolution
//               convolutions on the raw input can carry the whole segmentation
//               (docs/experiments.md)
// With one modality (`modalities` "pet" or "ct": the paper's PET-only next step, and studies
// without a CT) only that encoder exists and every [PET | CT] above is that encoder's alone.
// Conv blocks: two 3x3x3 convolutions with instance norm and leaky ReLU, plus a residual
// (UNETR's UnetResBlock). With p = 8 (the `tiny` preset) the hidden states used are those of
// blocks depth * 3/4 and depth * 2/4 (levels 2 and 1).
#pragma once

#include <torch/torch.h>

#include "model/config.h"
#include "model/vit_encoder.h"

namespace fratmae::model {

struct ConvBlockImpl : torch::nn::Module {
  ConvBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv3d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::InstanceNorm3d norm1{nullptr}, norm2{nullptr}, norm_skip{nullptr};
};
TORCH_MODULE(ConvBlock);

/// Token features (B, C, g...) up by 2^n_up: n_up transposed convolutions, each but the last
/// followed by a conv block.
struct UpProjectImpl : torch::nn::Module {
  UpProjectImpl(int64_t in, int64_t out, int64_t n_up);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::ModuleList ups{nullptr}, blocks{nullptr};
};
TORCH_MODULE(UpProject);

/// Up one level and merge a skip: transposed conv to `out` channels, concatenate the skip's
/// `skip_channels` (0: no skip to merge), conv block to `out`.
struct UpBlockImpl : torch::nn::Module {
  UpBlockImpl(int64_t in, int64_t out, int64_t skip_channels);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);
  torch::nn::ConvTranspose3d up{nullptr};
  ConvBlock block{nullptr};
};
TORCH_MODULE(UpBlock);

/// Down one level: a stride-2 3x3x3 convolution with instance norm and leaky ReLU, then a conv
/// block. (B, in, H, W, D) -> (B, out, H/2, W/2, D/2).
struct DownBlockImpl : torch::nn::Module {
  DownBlockImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv3d down{nullptr};
  torch::nn::InstanceNorm3d norm{nullptr};
  ConvBlock block{nullptr};
};
TORCH_MODULE(DownBlock);

/// Indices (0-based) of the encoder blocks whose outputs feed the skips of levels 1..n-1 and
/// the bottleneck, for an encoder of `depth` blocks (ViT-B: 2, 5, 8 and 11 = blocks 3, 6, 9, 12).
std::array<int64_t, 4> skip_layers(int64_t depth);

/// "petct", "pet" or "ct"; anything else is an Error.
void check_modalities(const std::string& modalities);

struct SegmentationNetImpl : torch::nn::Module {
  /// cfg.input is the window (crop) shape; cfg.patch must be 2, 4, 8 or 16.
  /// input_skip = false: no full-resolution convolutions on the raw PET/CT (UNETR's first
  /// skip); every voxel's decision then comes through the encoders (a diagnostic: does the
  /// encoders' path segment when it cannot be bypassed?).
  /// deep_supervision: the aux heads above (levels 1..n-1).
  /// conv_encoder: the convolutional encoder above (needs the input skip).
  SegmentationNetImpl(const ModelConfig& cfg, int64_t feature_size = 16, int64_t classes = 2,
                      std::string modalities = "petct", bool input_skip = true, bool deep_supervision = false,
                      bool conv_encoder = false);
  /// ct, pet: (B, 1, H, W, D) normalised -> logits (B, classes, H, W, D). The modality the
  /// network does not use may be an undefined tensor.
  torch::Tensor forward(const torch::Tensor& ct, const torch::Tensor& pet);
  /// The logits of every supervised level, finest first: [0] is forward's (B, classes, H, W, D),
  /// [l] (B, classes, H / 2^l, W / 2^l, D / 2^l) from aux head l; only [0] without deep supervision.
  std::vector<torch::Tensor> forward_levels(const torch::Tensor& ct, const torch::Tensor& pet);
  /// Foreground probability (softmax of the last class), (B, H, W, D).
  torch::Tensor foreground_probability(const torch::Tensor& ct, const torch::Tensor& pet);

  ModelConfig cfg;
  std::string modalities;
  int64_t levels;  // n = log2(patch)
  ViTEncoder pet_encoder{nullptr}, ct_encoder{nullptr};  // null when not used
  ConvBlock input_block{nullptr};  // null without the input skip
  torch::nn::ModuleList skip_projections{nullptr};  // levels n-1 .. 1
  torch::nn::ModuleList up_blocks{nullptr};         // levels n-1 .. 0
  torch::nn::Conv3d head{nullptr};
  torch::nn::ModuleList aux_heads{nullptr};  // levels 1..n-1; null without deep supervision
  torch::nn::ModuleList down_blocks{nullptr};  // levels 1..n; null without the conv encoder

 private:
  std::vector<torch::Tensor> decode(const torch::Tensor& ct, const torch::Tensor& pet, bool all_levels);
};
TORCH_MODULE(SegmentationNet);

/// Ann Arbor staging network (paper §2.4): both encoders on the central whole-body stack, each
/// one's output tokens pooled, concatenated [PET | CT], and an MLP: LayerNorm, Linear -> hidden,
/// GELU, dropout, Linear hidden -> classes. Pooling over the tokens:
///   mean      their mean (B, 2C): the paper's "features", UNETR/ViT practice
///   max       their element-wise maximum (B, 2C): a lesion seen in a few tokens is not averaged
///             away by the many tokens of healthy tissue
///   mean-max  both (B, 4C)
///   cls       each encoder's CLS token (B, 2C): pooling by attention, learnt; for the PET
///             encoder the feature ContextAlign aligns with the study's text in pre-training
///   regions   the element-wise maximum within each of kRegionsLR x kRegionsSI regions of the
///             token grid (all of AP; halves of LR; quarters of SI), concatenated (B, 2 * 8C):
///             keeps *where* the hot tokens are, which Ann Arbor staging turns on (nodal regions
///             on one or both sides of the diaphragm; lung, liver or bone involvement). Spatial
///             pyramid pooling's fixed grid (He et al. 2014, SPP-net), along the body's axes.
///   input     no encoder: the maximum of each input volume (PET, CT) within kRegionsLR x
///             kInputRegionsSI regions of the stack (all of AP; halves of LR; eighths of SI),
///             (B, 16 per modality): a baseline that shows what the head learns from where the
///             hottest voxels lie, without any learnt image features (a staging floor).
struct StagingNetImpl : torch::nn::Module {
  static constexpr int64_t kRegionsLR = 2, kRegionsSI = 4, kInputRegionsSI = 8;
  StagingNetImpl(const ModelConfig& cfg, int64_t hidden = 256, int64_t classes = 2, double dropout = 0.1,
                 std::string pool = "mean", std::string modalities = "petct");
  /// ct, pet: (B, 1, H, W, D) -> logits (B, classes); the unused modality may be undefined.
  torch::Tensor forward(const torch::Tensor& ct, const torch::Tensor& pet);

  ModelConfig cfg;
  std::string pool, modalities;
  ViTEncoder pet_encoder{nullptr}, ct_encoder{nullptr};  // both null with pool "input"
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(StagingNet);

}  // namespace fratmae::model
