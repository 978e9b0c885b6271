// How much memory this process may allocate, so that a reader refuses a file whose header
// declares more voxels than could ever be held (a damaged or hostile header) with a message,
// before it allocates: not with std::bad_alloc, and not by pushing the machine into swap.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace fratmae {

/// The smallest of the machine's physical memory, this process' address-space limit (ulimit -v),
/// its cgroup's memory limit (containers, SLURM, systemd) and FRATMAE_MEMORY_LIMIT_MB (megabytes;
/// to cap what readers accept on a shared machine, and for fuzzing), in bytes; 0 where none is
/// known. A FRATMAE_MEMORY_LIMIT_MB that is not a positive number is an Error.
uint64_t memory_limit_bytes();

/// The tightest limit of the process' cgroup and its ancestors, read from `proc_cgroup` (the
/// format of /proc/self/cgroup) under `sys_fs_cgroup` (where /sys/fs/cgroup is): cgroup v2's
/// memory.max, v1's memory/.../memory.limit_in_bytes; 0 where none is set ("max", v1's
/// "unlimited" near 2^63, missing files).
uint64_t cgroup_memory_limit(const std::filesystem::path& proc_cgroup, const std::filesystem::path& sys_fs_cgroup);

/// Throws FileError("FILE: declares WHAT (N GB to read), more than this machine's memory (M
/// GB) ...") when `bytes` exceed memory_limit_bytes().
void check_fits_in_memory(const std::filesystem::path& file, double bytes, const std::string& what);

}  // namespace fratmae
