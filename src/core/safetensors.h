// Reading and writing the safetensors format (github.com/huggingface/safetensors).
//
// A file is: 8 bytes little-endian uint64 N; N bytes of UTF-8 JSON (the header); the data
// buffer, i.e. every tensor's raw little-endian bytes, C order. The header maps each tensor's
// name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data
// buffer) and may hold "__metadata__", a string -> string map.
//
// Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL (the ones LibTorch 1.13 has). Other
// safetensors dtypes (U16, U32, U64, C64, F8_*, ...) are rejected with a clear message.
//
// What the writer produces (byte-identical to Python's safetensors.torch.save_file when there
// is no metadata, and accepted by it in any case):
//   - tensors in the data buffer ordered by dtype, widest first (I64, F64, F32, I32, BF16,
//     F16, I16, I8, U8, BOOL, the reference library's order), then by name (byte-wise); so
//     every tensor starts at a multiple of its element size; data_offsets are contiguous;
//   - the header is compact JSON (no spaces, no newlines): "__metadata__" first, only when
//     metadata is not empty, its keys sorted; then the tensors in data-buffer order, each
//     written as {"dtype":..,"shape":[..],"data_offsets":[b,e]} in that key order;
//   - the header is padded with spaces to a multiple of 8 bytes (N counts the padding).
//
// What the reader enforces (every violation is a fratmae::FileError naming `what`): the file
// holds the 8-byte size and N bytes of header; N <= 100 MB; the header is a valid UTF-8 JSON
// object with no repeated key; every entry has exactly dtype/shape/data_offsets with a known
// dtype, non-negative integer dims and offsets, begin <= end <= buffer size and
// end - begin == numel * element size; sorted by offset, the tensors tile the data buffer
// exactly (no overlap, no gap, nothing after the last); BOOL bytes are 0 or 1; metadata values
// are strings. Any key order and any whitespace in the header are accepted.
//
// Big-endian hosts are not supported (compile-time check in safetensors.cpp).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

namespace fratmae {

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;  // CPU, contiguous, each owning its memory
  std::map<std::string, std::string> metadata;
};

/// The bytes of a safetensors file holding `tensors` (any device, any strides: they are
/// copied to CPU and made contiguous) and `metadata`. Throws fratmae::Error for an undefined
/// or non-strided tensor, an unsupported dtype, the name "__metadata__" or invalid UTF-8.
std::string serialize_safetensors(const std::map<std::string, at::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

/// Parse the bytes of a safetensors file; `what` (usually the path) starts every error message.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what);

/// Write a safetensors file atomically: the bytes go to a temporary file in the same folder
/// that is renamed over `path` once complete (removed again on failure). Tensors are streamed
/// one at a time, so memory use is one tensor's CPU copy, not the whole file.
void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Read a safetensors file (each tensor read straight into its own CPU storage).
SafetensorsFile load_safetensors(const std::filesystem::path& path);

/// Copy every tensor of `src` into the same-named tensor of `dest` (e.g. a module's
/// named_parameters() and named_buffers(); the destination may live on any device and may
/// require grad). Checks everything first and copies nothing unless all is well; otherwise
/// throws one fratmae::Error, starting with `what`, that lists
///   - names in `dest` missing from the file (always an error),
///   - names in the file that `dest` does not have (an error only when `strict`),
///   - "name: file has shape [a, b], model expects [c, d]" and the same for dtypes.
void load_into(const std::map<std::string, at::Tensor>& dest, const SafetensorsFile& src,
               const std::string& what, bool strict = true);

/// The safetensors name of a dtype ("F32", ...); c10's name for unsupported dtypes.
std::string safetensors_dtype_name(at::ScalarType dtype);

}  // namespace fratmae
