// A read-only memory mapping of a whole file (POSIX mmap), for the cache's arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace fratmae::data {

class MappedFile {
 public:
  /// Maps `path` read-only. Throws FileError naming the file if it cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fratmae::data
