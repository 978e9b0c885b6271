// Outputs that appear whole or not at all.
//
// StagedOutputs collects the files one command writes into a folder. Each file is first
// written under a hidden temporary name in the same folder (same file system, so rename is
// atomic); commit() renames them all into place. If the command fails before commit(), the
// destructor removes every temporary file, and the folder itself when this object created it.
// Inputs are protected: staging a path that is one of the registered inputs is an error.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fratmae {

class StagedOutputs {
 public:
  /// `dir` is created if needed. With overwrite == false an existing target file is an error
  /// (raised by stage()).
  explicit StagedOutputs(std::filesystem::path dir, bool overwrite = false);
  ~StagedOutputs();
  StagedOutputs(const StagedOutputs&) = delete;
  StagedOutputs& operator=(const StagedOutputs&) = delete;

  /// Never write over this path (an input of the command).
  void protect_input(const std::filesystem::path& input);

  /// Reserve `name` in the output folder; returns the temporary path to write to. The
  /// temporary name keeps the file's extension (".nii.gz" etc.) so writers choose the format.
  std::filesystem::path stage(const std::string& name);

  /// Convenience: stage `name` and write `text` to it.
  void write_text(const std::string& name, const std::string& text);

  /// Move every staged file into place. After this the outputs exist as a whole.
  void commit();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Entry {
    std::filesystem::path tmp, final_path;
  };
  std::filesystem::path dir_;
  bool overwrite_;
  bool created_dir_ = false;
  bool committed_ = false;
  std::vector<Entry> entries_;
  std::vector<std::filesystem::path> inputs_;
};

/// Write `text` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

/// Read a whole file; throws FileError naming the file if it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace fratmae
