// Writing pictures: 8-bit RGB PNG through stb_image_write (Debian's libstb).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>

namespace fratmae::viz {

/// Write an RGB image (uint8 tensor [rows, cols, 3]) as PNG, atomically.
void write_png(const std::filesystem::path& path, const at::Tensor& rgb);

}  // namespace fratmae::viz
