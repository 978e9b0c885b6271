// Helpers shared by the tests: temporary folders, data paths, running the fratmae binary.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace fratmae::test {

namespace fs = std::filesystem;

/// The repository's test data (tests/fixtures).
inline fs::path data_dir() { return fs::path(FRATMAE_TEST_DATA); }
/// ../shared/data/real beside the checkout (may be absent on a bare clone).
inline fs::path shared_data_dir() { return fs::path(FRATMAE_SHARED_DATA); }

/// A fresh folder under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("fratmae-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

/// Run a shell command; stdout and stderr together.
inline CommandResult run_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Run the fratmae binary with `args` (a shell-quoted string).
inline CommandResult run_fratmae(const std::string& args) { return run_command(std::string(FRATMAE_BINARY) + " " + args); }

/// dciodvfy's (Debian's dicom3tools) verdict on a DICOM file: the number of lines that report an
/// "Error", and its whole report; -1 errors when dciodvfy is not installed.
inline std::pair<int, std::string> dciodvfy(const fs::path& file) {
  if (run_command("command -v dciodvfy").exit_code != 0) return {-1, ""};
  const std::string out = run_command("dciodvfy '" + file.string() + "'").output;
  int errors = 0;
  for (size_t pos = 0; (pos = out.find("Error", pos)) != std::string::npos; ++pos)
    if (pos == 0 || out[pos - 1] == '\n') ++errors;
  return {errors, out};
}

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

/// Number of entries in a folder (0 if it does not exist).
inline size_t count_entries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace fratmae::test
