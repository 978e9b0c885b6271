// Tests of src/core/folder_lock: one writer per folder, the holder named, a dead holder's lock
// taken over, and a folder the lock alone created removed again.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/error.h"
#include "core/folder_lock.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

TEST(FolderLock, ASecondWriterIsRefusedNamingTheFirst) {
  test::TempDir tmp;
  const fs::path dir = tmp / "run";
  {
    const FolderLock a(dir, "pretrain");
    std::ofstream(dir / "config.json") << "{}";
    try {
      const FolderLock b(dir, "pretrain");
      FAIL() << "a second lock on the same folder was granted";
    } catch (const FileError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("is being written by another fratmae (pid " + std::to_string(::getpid())), std::string::npos) << m;
      EXPECT_NE(m.find("choose another --out"), std::string::npos) << m;
    }
  }
  EXPECT_NO_THROW(FolderLock(dir, "pretrain")) << "released with its holder";
  EXPECT_TRUE(fs::exists(dir / "config.json"));
}

TEST(FolderLock, ALockOfADeadProcessIsTakenOver) {
  test::TempDir tmp;
  const fs::path dir = tmp / "run";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FolderLock held(dir, "child");
    [[maybe_unused]] ssize_t w = ::write(ready[1], "x", 1);
    ::pause();  // killed here, holding the lock
    _exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_THROW(FolderLock(dir, "parent"), FileError);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_NO_THROW(FolderLock(dir, "parent"));
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(FolderLock, AFolderOnlyTheLockCreatedIsRemoved) {
  test::TempDir tmp;
  { const FolderLock a(tmp / "new", "x"); }
  EXPECT_FALSE(fs::exists(tmp / "new")) << "a failed start leaves nothing behind";
  fs::create_directories(tmp / "old");
  { const FolderLock a(tmp / "old", "x"); }
  EXPECT_TRUE(fs::exists(tmp / "old")) << "a folder that was there stays";
  {
    const FolderLock a(tmp / "written", "x");
    std::ofstream(tmp / "written" / "metrics.jsonl") << "\n";
  }
  EXPECT_TRUE(fs::exists(tmp / "written" / "metrics.jsonl"));
}
