// Errors a user can act on.
//
// Every failure that reaches the user is a fratmae::Error whose message says what was wrong,
// with which file, and (where there is one) what to do. The CLI prints the message and exits
// with a non-zero status; nothing else catches these.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace fratmae {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An error about one file or folder: the message reads "<path>: <problem>".
class FileError : public Error {
 public:
  FileError(const std::filesystem::path& path, const std::string& problem)
      : Error(path.string() + ": " + problem), path_(path) {}
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace fratmae
