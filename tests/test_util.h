// Helpers shared by the tests: temporary folders, data paths, running the fratmae binary.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace fratmae::test {

namespace fs = std::filesystem;

/// A path the build wrote into fratmae_test_paths.txt beside the test executable (KEY=PATH lines:
/// data, shared, binary, assets, fuzz_corpus), read at run time so that no absolute path is
/// compiled into the tests and ccache hits in any clone folder. FRATMAE_TEST_PATHS names another
/// file. Aborts with a message when the file or the key is missing.
inline fs::path test_path(const std::string& key) {
  static const std::vector<std::pair<std::string, std::string>> paths = [] {
    std::vector<std::pair<std::string, std::string>> v;
    const char* env = std::getenv("FRATMAE_TEST_PATHS");
    const fs::path file = env ? fs::path(env) : fs::read_symlink("/proc/self/exe").parent_path() / "fratmae_test_paths.txt";
    std::ifstream f(file);
    if (!f) {
      std::fprintf(stderr, "tests: cannot read %s (written by CMake beside the test executables)\n", file.c_str());
      std::abort();
    }
    for (std::string line; std::getline(f, line);)
      if (const size_t eq = line.find('='); eq != std::string::npos) v.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    return v;
  }();
  for (const auto& [k, v] : paths)
    if (k == key) return fs::path(v);
  std::fprintf(stderr, "tests: fratmae_test_paths.txt has no '%s'\n", key.c_str());
  std::abort();
}

/// The repository's test data (tests/fixtures).
inline fs::path data_dir() { return test_path("data"); }
/// ../shared/data/real beside the checkout (may be absent on a bare clone).
inline fs::path shared_data_dir() { return test_path("shared"); }
/// The fratmae program.
inline std::string binary() { return test_path("binary").string(); }

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
inline CommandResult run_fratmae(const std::string& args) { return run_command(binary() + " " + args); }

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

/// The message of the exception `f` throws; "" when it throws none.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

/// Occurrences of `what` in `s` (overlapping ones too).
inline size_t count_occurrences(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

/// Number of entries in a folder (0 if it does not exist).
inline size_t count_entries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace fratmae::test
