// core/memory_limit.h: the bytes a process may hold follow ulimit -v (RLIMIT_AS) when it is the
// smaller limit, and a declared size above them is refused with a message naming the file.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/memory_limit.h"
#include "sanitizer.h"

using namespace fratmae;
namespace fs = std::filesystem;

TEST(MemoryLimit, FollowsTheAddressSpaceLimitAndRefusesAboveIt) {
  const uint64_t machine = memory_limit_bytes();
  ASSERT_GT(machine, uint64_t{1} << 28) << "this machine's memory was not found";
  EXPECT_NO_THROW(check_fits_in_memory("small.nii", 1e6, "10 x 10 x 10 voxels"));
  try {
    check_fits_in_memory("/data/huge.nii", 1e18, "1000000 x 1000000 x 1000000 voxels");
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/data/huge.nii: declares 1000000 x 1000000 x 1000000 voxels (1000000000.0 GB to read)"),
              std::string::npos)
        << m;
  }
  if (machine > 2e9) {
    EXPECT_NO_THROW(check_fits_in_memory("x.nii", 2e9, "a lot of voxels"));
  }
  if (test::kAddressSanitizer) GTEST_SKIP() << test::kNoAddressLimitUnderAsan;
  // In a child under a 1.5 GB address-space limit: the limit is the smaller one, and 2 GB is
  // refused where the parent accepts it.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit lim{uint64_t{1500} << 20, uint64_t{1500} << 20};
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(2);
    if (memory_limit_bytes() != (uint64_t{1500} << 20)) _exit(3);
    try {
      check_fits_in_memory("x.nii", 2e9, "a lot of voxels");
      _exit(4);
    } catch (const FileError&) {
      _exit(0);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: setrlimit failed, 3: limit not read, 4: not refused";
}

// FRATMAE_MEMORY_LIMIT_MB caps what readers accept (a shared machine, fuzzing); a value that is
// not a positive number is an error, not ignored.
TEST(MemoryLimit, TheEnvironmentVariableCapsTheLimit) {
  const uint64_t machine = memory_limit_bytes();
  ASSERT_GT(machine, uint64_t{200} << 20);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("FRATMAE_MEMORY_LIMIT_MB", "100", 1);
    if (memory_limit_bytes() != (uint64_t{100} << 20)) _exit(3);
    try {
      check_fits_in_memory("x.nii", 2e8, "a lot of voxels");
      _exit(4);
    } catch (const FileError& e) {
      if (std::string(e.what()).find("FRATMAE_MEMORY_LIMIT_MB") == std::string::npos) _exit(5);
    }
    for (const char* bad : {"", "lots", "-5", "0", "12MB"}) {
      ::setenv("FRATMAE_MEMORY_LIMIT_MB", bad, 1);
      try {
        (void)memory_limit_bytes();
        _exit(6);
      } catch (const FileError&) {
        _exit(7);
      } catch (const Error& e) {
        if (std::string(e.what()).find("FRATMAE_MEMORY_LIMIT_MB") == std::string::npos) _exit(8);
      }
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: not read, 4: not refused, 5: message, 6: bad value accepted";
}

// A container's, SLURM job's or systemd unit's memory limit is a cgroup's, read from
// /proc/self/cgroup and /sys/fs/cgroup: here a fake tree of each kind.
TEST(MemoryLimit, CgroupLimitsOfTheProcessAndItsAncestorsCount) {
  const fs::path root = fs::temp_directory_path() / ("fratmae-cgroup-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto put = [&](const fs::path& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  };
  // cgroup v2: the job's own memory.max is "max", its parent's 3 GiB, the root's absent.
  put("proc_v2", "0::/slurm/job_7\n");
  put("sys/slurm/job_7/memory.max", "max\n");
  put("sys/slurm/memory.max", "3221225472\n");
  EXPECT_EQ(cgroup_memory_limit(root / "proc_v2", root / "sys"), uint64_t{3} << 30);
  put("sys/slurm/job_7/memory.max", "1073741824\n");
  EXPECT_EQ(cgroup_memory_limit(root / "proc_v2", root / "sys"), uint64_t{1} << 30);
  // cgroup v1 (memory among other controllers); "unlimited" is 2^63 rounded to a page.
  put("proc_v1", "9:name=systemd:/\n4:cpu,memory:/docker/abc\n0::/\n");
  put("sys/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
  put("sys/memory/memory.limit_in_bytes", "2147483648\n");
  EXPECT_EQ(cgroup_memory_limit(root / "proc_v1", root / "sys"), uint64_t{2} << 30);
  // Nothing set, garbage, or no such files: no limit.
  put("proc_none", "4:memory:/x\n");
  put("sys/memory/x/memory.limit_in_bytes", "lots\n");
  fs::remove(root / "sys/memory/memory.limit_in_bytes");
  EXPECT_EQ(cgroup_memory_limit(root / "proc_none", root / "sys"), 0u);
  EXPECT_EQ(cgroup_memory_limit(root / "no_such_file", root / "sys"), 0u);
  fs::remove_all(root);
  // The real process: never above the machine's memory.
  EXPECT_LE(memory_limit_bytes(), static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
}
