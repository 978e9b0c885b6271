#include "core/atomic_output.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/error.h"

namespace fs = std::filesystem;

namespace fratmae {

namespace {
std::string tmp_prefix() { return ".fratmae-tmp-" + std::to_string(::getpid()) + "-"; }

fs::path canonical_or_absolute(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? fs::absolute(p) : c;
}

// Paths a signal handler removes: "f<path>" temporary files, "d<path>" folders created for
// them. Fixed slots of atomic pointers, so the handler reads them without locks.
constexpr int kSlots = 4096;
std::atomic<char*> g_slots[kSlots];

int register_path(const fs::path& p, char kind) {
  const std::string s = std::string(1, kind) + p.string();
  char* copy = new char[s.size() + 1];
  std::memcpy(copy, s.c_str(), s.size() + 1);
  for (int i = 0; i < kSlots; ++i) {
    char* expected = nullptr;
    if (g_slots[i].compare_exchange_strong(expected, copy)) return i;
  }
  delete[] copy;  // all slots taken: the destructor still cleans up on an ordinary exit
  return -1;
}

void unregister_path(int slot) {
  if (slot < 0) return;
  delete[] g_slots[slot].exchange(nullptr);
}

extern "C" void remove_on_signal(int sig) {
  for (auto& slot : g_slots) {
    const char* p = slot.load();
    if (p && p[0] == 'f') ::unlink(p + 1);
  }
  for (auto& slot : g_slots) {
    const char* p = slot.load();
    if (p && p[0] == 'd') ::rmdir(p + 1);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Registered for the lifetime of one scope.
class SignalCleanup {
 public:
  SignalCleanup(const fs::path& p, char kind) : slot_(register_path(p, kind)) {}
  ~SignalCleanup() { unregister_path(slot_); }
  SignalCleanup(const SignalCleanup&) = delete;
  SignalCleanup& operator=(const SignalCleanup&) = delete;

 private:
  int slot_;
};
}  // namespace

void remove_staged_files_on_signal() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, remove_on_signal);
}

StagedOutputs::StagedOutputs(fs::path dir, bool overwrite)
    : dir_(std::move(dir)), overwrite_(overwrite) {
  std::error_code ec;
  if (fs::exists(dir_, ec)) {
    if (!fs::is_directory(dir_, ec)) throw FileError(dir_, "output path exists and is not a folder");
  } else {
    fs::create_directories(dir_, ec);
    if (ec) throw FileError(dir_, "cannot create output folder: " + ec.message());
    created_dir_ = true;
    slots_.push_back(register_path(dir_, 'd'));
  }
}

StagedOutputs::~StagedOutputs() {
  if (!committed_) {
    std::error_code ec;
    for (const Entry& e : entries_) fs::remove(e.tmp, ec);
    if (created_dir_) fs::remove(dir_, ec);  // only removes it if empty
  }
  for (int slot : slots_) unregister_path(slot);
}

void StagedOutputs::protect_input(const fs::path& input) {
  inputs_.push_back(canonical_or_absolute(input));
}

fs::path StagedOutputs::stage(const std::string& name) {
  const fs::path final_path = dir_ / name;
  const fs::path canon = canonical_or_absolute(final_path);
  for (const fs::path& in : inputs_)
    if (canon == in)
      throw FileError(final_path, "refusing to overwrite an input file; choose another --out");
  for (const Entry& e : entries_)
    if (e.final_path == final_path) throw FileError(final_path, "written twice by one command");
  std::error_code ec;
  if (!overwrite_ && fs::exists(final_path, ec))
    throw FileError(final_path, "already exists; pass --overwrite to replace it");
  Entry e{dir_ / (tmp_prefix() + name), final_path};
  entries_.push_back(e);
  slots_.push_back(register_path(e.tmp, 'f'));
  return e.tmp;
}

void StagedOutputs::remove_stale(const std::string& name) { stale_.push_back(dir_ / name); }

std::string write_failure(int err) {
  if (err == 0) return "cannot write (disk full, no permission or missing folder?)";
  return std::string("cannot write (") + std::strerror(err) + ")";
}

void StagedOutputs::write_text(const std::string& name, const std::string& text) {
  const fs::path tmp = stage(name);
  errno = 0;
  std::ofstream f(tmp, std::ios::binary);
  f << text;
  f.close();
  if (!f) throw FileError(dir_ / name, write_failure(errno));
}

void StagedOutputs::commit() {
  std::error_code ec;
  for (const Entry& e : entries_)
    if (!fs::exists(e.tmp, ec)) throw FileError(e.final_path, "internal error: staged file was not written");
  for (const Entry& e : entries_) {
    fs::rename(e.tmp, e.final_path, ec);
    if (ec) throw FileError(e.final_path, "cannot move into place: " + ec.message());
  }
  committed_ = true;
  if (!overwrite_) return;
  for (const fs::path& p : stale_) {
    const bool staged = std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.final_path == p; });
    const fs::path canon = canonical_or_absolute(p);
    const bool input = std::any_of(inputs_.begin(), inputs_.end(), [&](const fs::path& in) { return in == canon; });
    if (!staged && !input && fs::is_regular_file(p, ec)) fs::remove(p, ec);
  }
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path tmp = parent / (tmp_prefix() + path.filename().string());
  const SignalCleanup cleanup(tmp, 'f');
  {
    errno = 0;
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    f.close();
    if (!f) {
      const int err = errno;
      std::error_code ec;
      fs::remove(tmp, ec);
      throw FileError(path, write_failure(err));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw FileError(path, "cannot move into place: " + ec.message());
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileError(path, "cannot open for reading (missing or no permission)");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace fratmae
