// core/memory_limit.h: the bytes a process may hold follow ulimit -v (RLIMIT_AS) when it is the
// smaller limit, and a declared size above them is refused with a message naming the file.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/memory_limit.h"

using namespace fratmae;

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
  if (machine > 2e9) {
    EXPECT_NO_THROW(check_fits_in_memory("x.nii", 2e9, "a lot of voxels"));
  }
}
