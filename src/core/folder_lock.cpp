#include "core/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provenance.h"

namespace fratmae {
namespace fs = std::filesystem;

namespace {
std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}
}  // namespace

FolderLock::FolderLock(const fs::path& dir, const std::string& what, const std::string& file_name, bool wait)
    : dir_(dir), name_(file_name) {
  std::error_code ec;
  created_dir_ = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw FileError(dir, "cannot create folder: " + ec.message());
  const fs::path file = dir / name_;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw FileError(file, std::string("cannot open the folder's lock: ") + std::strerror(errno));
  int locked = ::flock(fd_, LOCK_EX | LOCK_NB);
  if (locked != 0 && errno == EWOULDBLOCK && wait) {
    while ((locked = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
  }
  if (locked != 0) {
    const int err = errno;
    std::string holder = read_all(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw FileError(file, std::string("cannot lock: ") + std::strerror(err));
    const nlohmann::json h = nlohmann::json::parse(holder, nullptr, false);
    std::string who = "another fratmae";
    if (h.is_object())
      who += " (pid " + std::to_string(h.value("pid", 0)) + " on " + h.value("host", std::string("?")) + " since " +
             h.value("since", std::string("?")) + ": " + h.value("command", std::string("?")) + ")";
    throw FileError(dir, "is being written by " + who + "; wait for it to finish, or choose another --out");
  }
  // Ours: say who holds it (for the message of a process refused later).
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const nlohmann::json p = provenance();
  const std::string text = nlohmann::json{{"pid", static_cast<int64_t>(::getpid())},
                                          {"host", host},
                                          {"what", what},
                                          {"since", p.value("created", std::string())},
                                          {"command", p.value("command", std::string())}}
                               .dump() +
                           "\n";
  if (::ftruncate(fd_, 0) == 0) {
    ::lseek(fd_, 0, SEEK_SET);
    [[maybe_unused]] const ssize_t w = ::write(fd_, text.data(), text.size());
  }
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  if (created_dir_) {  // a start that failed before writing anything leaves nothing behind
    std::error_code ec;
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_, ec)) n += e.path().filename() != name_;
    if (!ec && n == 0) {
      fs::remove(dir_ / name_, ec);
      fs::remove(dir_, ec);
    }
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace fratmae
