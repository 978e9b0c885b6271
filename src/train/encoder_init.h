// Pre-trained encoders for fine-tuning: from a pre-training run folder (its newest checkpoint)
// or from an encoders file written by `fratmae export`.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "model/config.h"

namespace fratmae::train {

struct PretrainedEncoders {
  std::map<std::string, at::Tensor> weights;  // pet_encoder.*, ct_encoder.*, ...
  model::ModelConfig config;                  // the pre-training model's configuration
  std::string source;                         // checkpoint folder or file, for the record
};

/// Reads `init`: a run folder (RUN/config.json + checkpoints) or a .safetensors file from
/// `fratmae export`. Throws fratmae::FileError naming what is missing or wrong.
PretrainedEncoders read_pretrained_encoders(const std::filesystem::path& init);

/// Copies the PET and CT encoder weights into `net`'s pet_encoder.* / ct_encoder.* (the fixed
/// sine-cosine position embeddings are not copied: they are recomputed for the fine-tuning
/// input's token grid). Throws fratmae::Error listing mismatched names or shapes (e.g. an
/// encoder of another size).
void load_pretrained_encoders(torch::nn::Module& net, const PretrainedEncoders& p);

}  // namespace fratmae::train
