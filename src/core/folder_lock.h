// One writer per folder: a run, a cache or an experiment is written by one process at a time.
//
// The lock is an advisory flock(2) on DIR/.fratmae.lock, held for the lifetime of a FolderLock.
// The kernel drops it when its process ends, however it ends (a crash, SIGKILL), so a lock left
// by a dead process is simply taken over. The file's text (pid, host, command, start time) only
// serves the message of the process that is refused.
#pragma once

#include <filesystem>
#include <string>

namespace fratmae {

class FolderLock {
 public:
  /// Creates `dir` if needed and takes its lock; throws FileError("DIR: is being written by
  /// another fratmae (pid N on HOST since TIME: COMMAND); wait for it to finish or choose another
  /// --out") when another process holds it. `what` names this use in the lock file. A folder
  /// this lock created and nothing else wrote into is removed again when the lock is released.
  /// `file_name`: another lock file in the same folder, for writers that share a folder but
  /// not their files (the shards of `predict --input`).
  /// `wait`: instead of refusing, wait until the other holder lets go (for short critical
  /// steps such as merging the shards of a cache).
  FolderLock(const std::filesystem::path& dir, const std::string& what, const std::string& file_name = kFileName,
             bool wait = false);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  static constexpr const char* kFileName = ".fratmae.lock";

 private:
  int fd_ = -1;
  std::filesystem::path dir_;
  std::string name_;
  bool created_dir_ = false;  // then a folder left holding only the lock is removed at the end
};

}  // namespace fratmae
