// How much memory this process may allocate, so that a reader refuses a file whose header
// declares more voxels than could ever be held (a damaged or hostile header) with a message,
// before it allocates: not with std::bad_alloc, and not by pushing the machine into swap.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace fratmae {

/// The smaller of the machine's physical memory and this process' address-space limit
/// (ulimit -v), in bytes; 0 where neither is known.
uint64_t memory_limit_bytes();

/// Throws FileError("FILE: declares WHAT (N GB to read), more than this machine's memory (M
/// GB) ...") when `bytes` exceed memory_limit_bytes().
void check_fits_in_memory(const std::filesystem::path& file, double bytes, const std::string& what);

}  // namespace fratmae
