// Precompiled header for every fratmae target (see CMakeLists.txt).
// Heavy, stable headers only: LibTorch and the standard library.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
