// Writing the preprocessed cache (format: data/cache_format.h), incrementally and in parallel.
//
//   data::CacheWriter w(dir, settings);              // creates dir or opens its index.json
//   for (...) w.add_case(case_arrays, signature);    // thread-safe; one file per case, atomic
//   w.commit();                                      // index.json, atomically
//
// build_cache() runs a list of CaseJobs over worker threads with progress and ETA, skipping
// cases already in the cache with the same settings and source signature.
//
// Sharded (many processes, e.g. a SLURM array): a writer given shard I of N builds the cases
// whose index in the sorted id list is I mod N into the same folder, with its own lock
// (.fratmae.lock-I-of-N) and index (index-I-of-N.json); the shard that finishes last merges
// the N shard indexes into index.json (merge_cache_shards), so the cache equals, case file for
// case file and record for record, what one process writes.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/folder_lock.h"
#include "core/shard.h"
#include "data/case_arrays.h"
#include "data/preprocess.h"

namespace fratmae::text {
class ClipTokenizer;
}

namespace fratmae::data {

/// Writing into the cache folder failed (a full disk, a file-size limit, permissions): not a
/// fault of the case, so build_cache stops also under OnBadCase::kSkip.
class CacheWriteError : public fratmae::FileError {
 public:
  using fratmae::FileError::FileError;
};

class CacheWriter {
 public:
  /// Opens `dir` as a cache: creates it, or reads the index.json there. An existing cache
  /// made with other settings, or a non-empty folder that is not a cache, is an error naming
  /// the folder unless `overwrite` (then every case is rebuilt). `clip_vocab` empty: CLIP's
  /// default vocabulary (text/clip_tokenizer.h).
  /// With `shard` enabled, this writer builds that shard of the cache (see above): it
  /// reuses current cases of the folder's index.json and of its own shard index.
  CacheWriter(std::filesystem::path dir, CacheSettings settings, bool overwrite = false,
              const std::filesystem::path& clip_vocab = {}, Shard shard = {});
  ~CacheWriter();
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  /// True when case `id` is in the cache with these settings and this source `signature` and
  /// its file is intact (then keep() it instead of adding it again).
  bool is_current(const std::string& id, const std::string& signature) const;
  /// Keep an existing case as it is in the next index.
  void keep(const std::string& id);
  /// Validate, preprocess and write one case (thread-safe). Throws fratmae::Error naming the
  /// case, CacheWriteError when its file cannot be written. `signature` identifies the inputs (paths, sizes, times, metadata) for is_current().
  void add_case(const CaseArrays& c, const std::string& signature = "");
  /// Write index.json (atomically) listing every kept and added case, sorted by id; case
  /// files no longer listed are removed. Returns the number of cases listed. A shard writes
  /// its complete shard index instead (with the dataset's ids and the launcher's job) and
  /// removes nothing.
  int64_t commit();
  /// A shard's view of the dataset: every case id of it (sorted), recorded in the shard index
  /// so that only shards of the same dataset are merged.
  void set_dataset_ids(std::vector<std::string> ids);
  /// Write index.json with the cases found on disk plus those added so far (no file removed):
  /// what an interrupted or stopped run leaves, so that the next run resumes.
  void checkpoint();

  const std::filesystem::path& dir() const { return dir_; }
  const Shard& shard() const { return shard_; }
  const CacheSettings& settings() const { return settings_; }
  int64_t added() const;
  int64_t kept() const;

 private:
  nlohmann::json index_json(const std::map<std::string, nlohmann::json>& cases) const;
  void checkpoint_locked();
  std::string file_name(const std::string& id) const;
  std::filesystem::path index_path() const;  // index.json, or this shard's index

  std::filesystem::path dir_;
  CacheSettings settings_;
  std::string hash_;
  std::unique_ptr<text::ClipTokenizer> tokenizer_;
  std::unique_ptr<FolderLock> lock_;  // one writer per cache, held while this writer lives
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> existing_;  // records of the index found on disk
  std::map<std::string, nlohmann::json> next_;      // records of the index to write
  Shard shard_;
  std::vector<std::string> dataset_ids_;
  int64_t added_ = 0, kept_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_;
};

/// One case for build_cache: how to load it, and what identifies its inputs.
struct CaseJob {
  std::string id;
  std::string signature;  // changes whenever the inputs change
  std::function<CaseArrays()> load;  // reads the case; throws fratmae::Error naming it
};

enum class OnBadCase { kSkip, kStop };

struct BuildOptions {
  int workers = 0;                     // cases at once; 0 = one per core
  OnBadCase on_bad_case = OnBadCase::kStop;
  bool show_progress = true;
};

struct BuildReport {
  int64_t processed = 0, skipped = 0, failed = 0, total_in_cache = 0;
  bool merged = false;  // a shard: it finished last and merged the shards (total_in_cache: all of them)
  std::vector<std::pair<std::string, std::string>> failures;  // (case, message)
  double seconds = 0;
};

/// Run `jobs` into `writer` (incremental: cases that are current are kept, not reloaded) and
/// commit. Each worker thread runs LibTorch single-threaded. A case that fails is logged with
/// its message and skipped (kSkip) or stops the run with that message (kStop); with kStop
/// nothing is committed, but finished case files stay for the next run's incremental reuse.
/// Duplicate ids are an error. A shard writer runs only its share of `jobs` and, when every
/// shard of its job is complete, merges them.
BuildReport build_cache(CacheWriter& writer, const std::vector<CaseJob>& jobs, const BuildOptions& opt);

struct ShardMerge {
  bool merged = false;
  int64_t shards = 0, cases = 0;
  std::string waiting_for;  // when not merged: what is missing ("shard 2/3", ...)
};

/// Merge the shard indexes index-I-of-N.json of the cache `dir` into its index.json (under the
/// folder's main lock, waiting for it): the union of their case records, sorted by id; case
/// files no shard lists are removed, and so are the shard indexes. Merged only when all N are
/// complete, made with one setting and one dataset, and, with `job` given, by that launcher job
/// (core/shard.h launcher_job_id); otherwise nothing changes and `waiting_for` says why. With
/// `job` empty (`preprocess --merge`), shard indexes of another count than `count` (0: the only
/// count found) are an error naming them.
ShardMerge merge_cache_shards(const std::filesystem::path& dir, const std::optional<std::string>& job = std::nullopt,
                              int64_t count = 0);

}  // namespace fratmae::data
