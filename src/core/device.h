// The --device option: "cpu", "cuda" or "cuda:N", checked before any work so that a missing
// GPU is one clear sentence rather than LibTorch's dispatcher dump.
#pragma once

#include <string>

namespace fratmae {

/// Throws Error("COMMAND: --device D: ...") when `device` is not cpu/cuda/cuda:N, when this
/// LibTorch has no CUDA or sees no GPU, or when N is not one of the GPUs it sees.
void check_device(const std::string& device, const std::string& command);

}  // namespace fratmae
