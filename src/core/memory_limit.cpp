#include "core/memory_limit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/error.h"

namespace fratmae {

namespace {
namespace fs = std::filesystem;

// min(a, b) where 0 means "no limit known".
uint64_t tighter(uint64_t a, uint64_t b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

// A cgroup limit file's value: bytes, or 0 for "max" (v2), the v1 "unlimited" value near 2^63,
// an unreadable file or anything else.
uint64_t limit_file(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.empty() || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }) || text.size() > 19) return 0;
  const uint64_t v = std::strtoull(text.c_str(), nullptr, 10);
  return v >= (uint64_t{1} << 62) ? 0 : v;
}
}  // namespace

uint64_t cgroup_memory_limit(const fs::path& proc_cgroup, const fs::path& sys_fs_cgroup) {
  std::ifstream in(proc_cgroup);
  uint64_t limit = 0;
  for (std::string line; std::getline(in, line);) {
    // "0::/a/b" (v2) or "4:memory:/a/b" (v1; also "4:cpu,memory:/...").
    const size_t c1 = line.find(':'), c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    fs::path rel = fs::path(line.substr(c2 + 1)).relative_path();
    fs::path root;
    std::string name;
    if (line.compare(0, c1, "0") == 0 && controllers.empty()) {
      root = sys_fs_cgroup, name = "memory.max";
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      root = sys_fs_cgroup / "memory", name = "memory.limit_in_bytes";
    } else {
      continue;
    }
    // The process' own cgroup and each ancestor up to the mount's root (inside a container the
    // path may name the host's hierarchy and not exist: the root's file is then the container's).
    for (;;) {
      limit = tighter(limit, limit_file(root / rel / name));
      if (rel.empty()) break;
      rel = rel.parent_path();
    }
  }
  return limit;
}

uint64_t memory_limit_bytes() {
  uint64_t limit = 0;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) limit = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) limit = tighter(limit, as.rlim_cur);
  limit = tighter(limit, cgroup_memory_limit("/proc/self/cgroup", "/sys/fs/cgroup"));
  if (const char* mb = std::getenv("FRATMAE_MEMORY_LIMIT_MB")) {
    char* end = nullptr;
    const double v = std::strtod(mb, &end);
    if (end == mb || *end != '\0' || !(v > 0) || v > 1e12)
      throw Error(std::string("FRATMAE_MEMORY_LIMIT_MB='") + mb + "' is not a positive number of megabytes");
    limit = tighter(limit, static_cast<uint64_t>(v * 1048576.0));
  }
  return limit;
}

void check_fits_in_memory(const std::filesystem::path& file, double bytes, const std::string& what) {
  const uint64_t limit = memory_limit_bytes();
  if (limit == 0 || bytes <= static_cast<double>(limit)) return;
  char text[200];
  std::snprintf(text, sizeof text,
                " (%.1f GB to read), more than this process may hold (%.1f GB: the machine's memory, its cgroup's "
                "limit, ulimit -v or FRATMAE_MEMORY_LIMIT_MB)",
                bytes / 1e9, static_cast<double>(limit) / 1e9);
  throw FileError(file, "declares " + what + text + "; is the header damaged?");
}

}  // namespace fratmae
