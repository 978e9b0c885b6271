#include "viz/png.h"

#include <stb/stb_image_write.h>

#include <string>

#include "core/atomic_output.h"
#include "core/error.h"

namespace fratmae::viz {

namespace {
void append(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}
}  // namespace

void write_png(const std::filesystem::path& path, const at::Tensor& rgb) {
  if (rgb.dim() != 3 || rgb.size(2) != 3 || rgb.scalar_type() != at::kByte)
    throw Error("write_png: expected a uint8 [rows, cols, 3] image");
  const at::Tensor img = rgb.cpu().contiguous();
  const int rows = static_cast<int>(img.size(0)), cols = static_cast<int>(img.size(1));
  std::string bytes;
  if (!stbi_write_png_to_func(append, &bytes, cols, rows, 3, img.data_ptr<uint8_t>(), cols * 3))
    throw FileError(path, "cannot encode PNG");
  write_file_atomic(path, bytes);
}

}  // namespace fratmae::viz
