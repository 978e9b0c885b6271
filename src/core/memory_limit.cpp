#include "core/memory_limit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace fratmae {

uint64_t memory_limit_bytes() {
  uint64_t limit = 0;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) limit = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    limit = limit ? std::min<uint64_t>(limit, as.rlim_cur) : static_cast<uint64_t>(as.rlim_cur);
  return limit;
}

void check_fits_in_memory(const std::filesystem::path& file, double bytes, const std::string& what) {
  const uint64_t limit = memory_limit_bytes();
  if (limit == 0 || bytes <= static_cast<double>(limit)) return;
  char text[160];
  std::snprintf(text, sizeof text, " (%.1f GB to read), more than this process may hold (%.1f GB: the machine's memory or ulimit -v)",
                bytes / 1e9, static_cast<double>(limit) / 1e9);
  throw FileError(file, "declares " + what + text + "; is the header damaged?");
}

}  // namespace fratmae
