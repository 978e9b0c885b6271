// Outputs that appear whole or not at all.
//
// StagedOutputs collects the files one command writes into a folder. Each file is first
// written under a hidden temporary name in the same folder (same file system, so rename is
// atomic); commit() renames them all into place. If the command fails before commit(), the
// destructor removes every temporary file, and the folder itself when this object created it.
// Inputs are protected: staging a path that is one of the registered inputs is an error.
// A command killed by a signal runs no destructor: remove_staged_files_on_signal() makes
// SIGINT, SIGTERM and SIGHUP remove the temporary files (and folders this process created for
// them, when empty) before the process ends as the signal says.
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

  /// On commit(), remove `name` from the folder if it is there and this command did not stage
  /// it: a file a former run of the same command wrote that this run does not (e.g. the CT of a
  /// PET/CT study replaced by a PET-only one). Only with overwrite; inputs are never removed.
  void remove_stale(const std::string& name);

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
  std::vector<std::filesystem::path> inputs_, stale_;
  std::vector<int> slots_;  // paths registered for removal on a signal
};

/// Install handlers of SIGINT, SIGTERM and SIGHUP that remove every temporary file of a
/// StagedOutputs or write_file_atomic in progress, then end the process with the signal's
/// default action (exit status 128 + signal in a shell). Commands that handle these signals
/// themselves (pretrain, finetune: checkpoint and stop) install their own afterwards.
void remove_staged_files_on_signal();

/// Write `text` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

/// "cannot write (No space left on device)": why a write failed, from the errno the failed
/// write left (`err`; 0: a guess naming the usual causes), for FileError messages.
std::string write_failure(int err);

/// Read a whole file; throws FileError naming the file if it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace fratmae
