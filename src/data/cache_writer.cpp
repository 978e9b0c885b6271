#include "data/cache_writer.h"

#include <ATen/Parallel.h>
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <tuple>
#include <fstream>
#include <set>
#include <thread>

#include "core/folder_lock.h"
#include "core/provenance.h"
#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "data/cache_format.h"
#include "fratmae/version.h"
#include "text/clip_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::data {

namespace {

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kShort: return "int16";
    case at::kByte: return "uint8";
    case at::kInt: return "int32";
    default: throw Error("cache: internal error, unsupported array type");
  }
}

// Writes `arrays` back to back (64-byte aligned) into `path`; returns the "arrays" record and
// the file size.
std::pair<json, int64_t> write_arrays(const fs::path& path,
                                      const std::vector<std::pair<std::string, at::Tensor>>& arrays,
                                      const fs::path& shown_as) {
  errno = 0;
  std::ofstream f(path, std::ios::binary);
  if (!f) throw FileError(shown_as, "cannot create (" + std::string(errno ? std::strerror(errno) : "no permission, or disk full?") + ")");
  json rec = json::object();
  int64_t pos = 0;
  static const char zeros[kCacheAlignment] = {};
  for (const auto& [name, t0] : arrays) {
    const at::Tensor t = t0.cpu().contiguous();
    const int64_t pad = (kCacheAlignment - pos % kCacheAlignment) % kCacheAlignment;
    f.write(zeros, pad);
    pos += pad;
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    f.write(static_cast<const char*>(t.data_ptr()), bytes);
    rec[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"offset", pos}};
    pos += bytes;
  }
  f.close();
  if (!f) throw FileError(shown_as, write_failure(errno));
  return {rec, pos};
}

// "index-2-of-3.json" -> (2, 3); anything else -> (-1, -1).
std::pair<int64_t, int64_t> shard_index_name(const std::string& name) {
  long long i = -1, n = -1;
  int used = 0;
  if (std::sscanf(name.c_str(), "index-%lld-of-%lld.json%n", &i, &n, &used) == 2 &&
      used == static_cast<int>(name.size()) && n > 1 && i >= 0 && i < n &&
      name == "index-" + std::to_string(i) + "-of-" + std::to_string(n) + ".json")
    return {i, n};
  return {-1, -1};
}

std::string shard_index_file(const Shard& s) { return "index" + s.suffix() + ".json"; }

// index.json's content (a shard's index adds its own fields to it).
json cache_index_json(const json& settings, const std::string& hash, const std::map<std::string, json>& cases) {
  json list = json::array();
  for (const auto& [id, rec] : cases) list.push_back(rec);
  return {{"format", "fratmae-cache"},
          {"format_version", kCacheFormatVersion},
          {"fratmae_version", FRATMAE_VERSION},
          {"provenance", provenance()},
          {"layout", "[H, W, D] = [anterior->posterior, right->left, superior->inferior]"},
          {"settings", settings},
          {"settings_hash", hash},
          {"cases", list}};
}

// ".fratmae-tmp-PID-..." (core/atomic_output) whose PID is no process on this host.
bool staged_by_a_dead_process(const std::string& name) {
  const std::string prefix = ".fratmae-tmp-";
  if (name.rfind(prefix, 0) != 0) return false;
  const size_t end = name.find('-', prefix.size());
  if (end == std::string::npos || end == prefix.size()) return false;
  long pid = 0;
  for (size_t i = prefix.size(); i < end; ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 1L << 40) return false;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// Remove the case files of `dir` that `cases` does not list.
void remove_unlisted_case_files(const fs::path& dir, const std::map<std::string, json>& cases) {
  std::set<std::string> listed;
  for (const auto& [id, rec] : cases) listed.insert(fs::path(rec.value("file", "")).filename().string());
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / kCacheCasesDir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".fratmae-tmp-", 0) == 0) {
      // Staged files of another process: a writer killed mid-case (this one holds the lock now).
      if (name.rfind(".fratmae-tmp-" + std::to_string(::getpid()) + "-", 0) != 0) fs::remove(e.path(), ec);
      continue;
    }
    if (e.path().extension() == ".bin" && !listed.count(name)) fs::remove(e.path(), ec);
  }
}

// True when `cases` holds only what a cache's writer puts there: case files (.bin) and its staged
// temporary files. A folder with nothing else is a cache whose first run stopped before it wrote
// index.json (killed, or out of memory), not somebody's folder.
bool only_case_files(const fs::path& cases) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cases, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file(ec) || (e.path().extension() != ".bin" && name.rfind(".fratmae-tmp-", 0) != 0)) return false;
  }
  return !ec;
}

bool file_intact(const fs::path& dir, const json& rec) {
  std::error_code ec;
  const fs::path p = dir / rec.value("file", "");
  const auto size = fs::file_size(p, ec);
  return !ec && static_cast<int64_t>(size) == rec.value("file_bytes", int64_t{-1});
}

}  // namespace

CacheWriter::CacheWriter(fs::path dir, CacheSettings settings, bool overwrite,
                         const fs::path& clip_vocab, Shard shard)
    : dir_(std::move(dir)), settings_(std::move(settings)), hash_(settings_.hash()), shard_(std::move(shard)),
      last_checkpoint_(std::chrono::steady_clock::now()) {
  settings_.validate();
  std::error_code ec;
  const fs::path main_index = dir_ / kCacheIndexName;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec))
    throw FileError(dir_, "exists and is not a folder; choose another --out");
  // One writer per cache (per shard of it). Lock files are not content, and a folder of shard
  // indexes with their case files is a cache being built, not a foreign folder.
  bool shards_present = false, has_cases = false, other_content = false;
  if (fs::exists(dir_, ec))
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(FolderLock::kFileName, 0) == 0) continue;
      if (name.rfind(".fratmae-tmp-", 0) == 0) continue;  // a staged index.json of a killed writer: removed below
      if (shard_index_name(name).second > 0) shards_present = true;
      else if (name == kCacheCasesDir) has_cases = true;
      else other_content = true;
    }
  const bool interrupted_first_run = has_cases && !other_content && !fs::exists(main_index, ec) &&
                                     only_case_files(dir_ / kCacheCasesDir);
  const bool had_content =
      other_content || (has_cases && !shards_present && !shard_.enabled() && !interrupted_first_run);
  lock_ = std::make_unique<FolderLock>(dir_, shard_.enabled() ? "preprocess --shard " + shard_.to_string() : "preprocess",
                                       std::string(FolderLock::kFileName) + shard_.suffix());
  // Holding the lock of an unsharded cache: a staged file in the folder itself whose process is
  // gone is a killed writer's index.json (shards stage their indexes here too, maybe from other
  // hosts, so a sharded folder's are left alone).
  if (!shards_present && !shard_.enabled() && fs::exists(dir_, ec))
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (staged_by_a_dead_process(e.path().filename().string())) fs::remove(e.path(), ec);
  if (shards_present && !shard_.enabled())
    spdlog::warn("preprocess: {} holds the indexes of an unfinished sharded run (index-I-of-N.json); this run "
                 "replaces them (preprocess --merge would have combined them)", dir_.string());
  if (fs::exists(main_index, ec)) {
    json index;
    try {
      index = json::parse(read_file(main_index));
    } catch (const json::exception& e) {
      if (!overwrite)
        throw FileError(main_index, std::string("is not valid JSON (") + e.what() +
                                        "); pass --overwrite to rebuild the cache");
    }
    if (!overwrite && (!index.is_object() || index.value("format", "") != "fratmae-cache"))
      throw FileError(main_index, "is not a fratmae cache index; choose another --out");
    if (!overwrite && index.value("settings_hash", "") != hash_)
      throw FileError(dir_, "this cache was made with other settings (" +
                                index.value("settings", json::object()).dump() +
                                "); pass --overwrite to rebuild it with the new ones, or choose another --out");
    if (!overwrite) {
      try {
        for (const json& rec : index.at("cases")) existing_[rec.at("id").get<std::string>()] = rec;
      } catch (const json::exception& e) {
        throw FileError(main_index, std::string("malformed cache index (") + e.what() + "); pass --overwrite to rebuild the cache");
      }
    }
  } else if (interrupted_first_run && !shard_.enabled()) {
    spdlog::info("preprocess: {} holds case files without {} (a run stopped before it finished); they are "
                 "rebuilt", dir_.string(), kCacheIndexName);
  } else if (had_content && !overwrite) {
    throw FileError(dir_, "is a non-empty folder without " + std::string(kCacheIndexName) +
                              ", so not a fratmae cache; choose an empty or new --out");
  }
  // A shard resumes from its own index too (the cases it finished before it was stopped).
  if (shard_.enabled() && !overwrite && fs::exists(index_path(), ec)) {
    const json own = json::parse(read_file(index_path()), nullptr, false);
    if (!own.is_discarded() && own.value("settings_hash", "") == hash_)
      for (const json& rec : own.value("cases", json::array())) existing_[rec.at("id").get<std::string>()] = rec;
  }
  fs::create_directories(dir_ / kCacheCasesDir, ec);
  if (ec) throw FileError(dir_ / kCacheCasesDir, "cannot create folder: " + ec.message());
  tokenizer_ = std::make_unique<text::ClipTokenizer>(clip_vocab.empty() ? text::default_clip_vocab_path() : clip_vocab);
}

CacheWriter::~CacheWriter() = default;

int64_t CacheWriter::added() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return added_;
}

int64_t CacheWriter::kept() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kept_;
}

std::string CacheWriter::file_name(const std::string& id) const {
  std::string safe;
  for (char c : id) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (safe != id || safe.empty() || safe[0] == '.') {
    // Keep names unique when characters were replaced.
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ull;
    safe += "_" + std::to_string(h % 100000000);
  }
  return std::string(kCacheCasesDir) + "/" + safe + ".bin";
}

fs::path CacheWriter::index_path() const {
  return dir_ / (shard_.enabled() ? shard_index_file(shard_) : std::string(kCacheIndexName));
}

void CacheWriter::set_dataset_ids(std::vector<std::string> ids) {
  std::lock_guard<std::mutex> lock(mutex_);
  dataset_ids_ = std::move(ids);
}

bool CacheWriter::is_current(const std::string& id, const std::string& signature) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = existing_.find(id);
  if (it == existing_.end()) return false;
  const json& rec = it->second;
  return rec.value("settings_hash", "") == hash_ &&
         rec.value("source", json::object()).value("signature", "") == signature &&
         file_intact(dir_, rec);
}

void CacheWriter::keep(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = existing_.find(id);
  if (it == existing_.end()) throw Error("cache: case " + id + " is not in the cache, so cannot be kept");
  next_[id] = it->second;
  ++kept_;
}

void CacheWriter::add_case(const CaseArrays& c, const std::string& signature) {
  const std::string& id = c.meta.id;
  if (id.empty()) throw Error("cache: a case has an empty id");
  PreprocessedCase p = preprocess_case(c, settings_, tokenizer_->tokenize_padded(make_prompt(c.meta)));

  std::vector<std::pair<std::string, at::Tensor>> arrays{{"wb_ct", p.wb_ct}, {"wb_pet", p.wb_pet}};
  if (p.wb_seg.defined()) arrays.emplace_back("wb_seg", p.wb_seg);
  if (p.nat_ct.defined()) {
    arrays.emplace_back("nat_ct", p.nat_ct);
    arrays.emplace_back("nat_pet", p.nat_pet);
    if (p.nat_seg.defined()) arrays.emplace_back("nat_seg", p.nat_seg);
  }
  arrays.emplace_back("lesion_voxels", p.lesion_voxels);

  const std::string file = file_name(id);
  json arrays_rec;
  int64_t bytes = 0;
  try {
    StagedOutputs out(dir_ / kCacheCasesDir, /*overwrite=*/true);
    const fs::path final_name = fs::path(file).filename();
    std::tie(arrays_rec, bytes) = write_arrays(out.stage(final_name.string()), arrays, dir_ / file);
    out.commit();
  } catch (const FileError& e) {
    throw CacheWriteError(e.path(), std::string(e.what()).substr(e.path().string().size() + 2) + " (case " + id + ")");
  }

  json source = c.sources;
  source["geometry"] = geometry_to_json(c.source_geometry);
  source["signature"] = signature;
  json rec = {{"id", id},
              {"meta", p.meta.to_json()},
              {"prompt", p.prompt},
              {"text_ids", p.text_ids},
              {"stage_label", stage_label(p.meta.stage)},
              {"file", file},
              {"file_bytes", bytes},
              {"arrays", arrays_rec},
              {"wb_spacing_mm", p.wb_spacing},
              {"native_shape", c.ct.sizes().vec()},
              {"native_spacing_mm", p.nat_spacing},
              {"has_seg", c.seg.defined()},
              {"lesion_voxel_count", p.lesion_voxel_count},
              {"source", source},
              {"settings_hash", hash_}};
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [other, r] : next_)
    if (other != id && r.value("file", "") == file)
      throw Error("cache: cases '" + id + "' and '" + other + "' map to the same file name; rename one");
  next_[id] = std::move(rec);
  ++added_;
  // A long run writes its index now and then, so that an interrupted run is resumed.
  if (std::chrono::steady_clock::now() - last_checkpoint_ > std::chrono::seconds(10)) checkpoint_locked();
}

json CacheWriter::index_json(const std::map<std::string, json>& cases) const {
  json index = cache_index_json(settings_.to_json(), hash_, cases);
  if (shard_.enabled()) {
    index["shard"] = shard_.to_string();
    index["job"] = launcher_job_id();
    index["dataset_ids"] = dataset_ids_;
    index["complete"] = false;
  }
  return index;
}

void CacheWriter::checkpoint_locked() {
  std::map<std::string, json> all = existing_;
  for (const auto& [id, rec] : next_) all[id] = rec;
  write_file_atomic(index_path(), index_json(all).dump(1) + "\n");
  existing_ = std::move(all);
  last_checkpoint_ = std::chrono::steady_clock::now();
}

void CacheWriter::checkpoint() {
  std::lock_guard<std::mutex> lock(mutex_);
  checkpoint_locked();
}

int64_t CacheWriter::commit() {
  std::lock_guard<std::mutex> lock(mutex_);
  json index = index_json(next_);
  if (shard_.enabled()) index["complete"] = true;
  write_file_atomic(index_path(), index.dump(1) + "\n");
  if (!shard_.enabled()) {
    remove_unlisted_case_files(dir_, next_);
    // A one-process run replaces the indexes of an unfinished sharded run.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (shard_index_name(e.path().filename().string()).second > 0) fs::remove(e.path(), ec);
  }
  existing_ = next_;
  return static_cast<int64_t>(next_.size());
}

ShardMerge merge_cache_shards(const fs::path& dir, const std::optional<std::string>& job, int64_t count) {
  FolderLock lock(dir, "preprocess: merging the shards", FolderLock::kFileName, /*wait=*/true);
  std::error_code ec;
  std::map<int64_t, std::vector<fs::path>> by_count;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto [i, n] = shard_index_name(e.path().filename().string());
    if (n > 0) by_count[n].push_back(e.path());
  }
  ShardMerge m;
  if (count == 0) {
    if (by_count.empty()) {
      m.waiting_for = "no shard indexes (index-I-of-N.json) in " + dir.string();
      return m;
    }
    if (!job && by_count.size() > 1) {
      std::string counts;
      for (const auto& [n, files] : by_count) counts += (counts.empty() ? "" : ", ") + std::to_string(n);
      throw FileError(dir, "holds the shards of runs split " + counts +
                               " ways; remove the indexes (index-I-of-N.json) of the runs you do not want, then merge");
    }
    count = by_count.rbegin()->first;
  }
  m.shards = count;
  std::map<std::string, json> cases;
  json first;
  for (int64_t i = 0; i < count; ++i) {
    const Shard s{i, count};
    const fs::path f = dir / shard_index_file(s);
    if (!fs::is_regular_file(f, ec)) {
      m.waiting_for = "shard " + s.to_string();
      return m;
    }
    const json idx = json::parse(read_file(f), nullptr, false);
    if (idx.is_discarded() || !idx.value("complete", false)) {
      m.waiting_for = "shard " + s.to_string() + " (not finished)";
      return m;
    }
    if (job && idx.value("job", std::string("?")) != *job) {
      m.waiting_for = "shard " + s.to_string() + " of this job (" + f.string() + " is from another: '" +
                      idx.value("job", std::string()) + "')";
      return m;
    }
    if (i == 0) {
      first = idx;
    } else if (idx.value("settings_hash", "") != first.value("settings_hash", "") ||
               idx.value("dataset_ids", json()) != first.value("dataset_ids", json())) {
      if (job) {
        m.waiting_for = "shard " + s.to_string() + " of the same settings and dataset";
        return m;
      }
      throw FileError(f, "was made with other settings or from another dataset than " +
                             (dir / shard_index_file(Shard{0, count})).string() + "; the shards cannot be merged");
    }
    for (const json& rec : idx.value("cases", json::array())) {
      const std::string id = rec.at("id").get<std::string>();
      if (!cases.emplace(id, rec).second) throw FileError(f, "lists case " + id + ", which another shard lists too");
    }
  }
  write_file_atomic(dir / kCacheIndexName, cache_index_json(first["settings"], first.value("settings_hash", ""), cases).dump(1) + "\n");
  remove_unlisted_case_files(dir, cases);
  for (const auto& [n, files] : by_count)
    if (n == count)
      for (const fs::path& f : files) fs::remove(f, ec);
  for (int64_t i = 0; i < count; ++i) fs::remove(dir / (std::string(FolderLock::kFileName) + Shard{i, count}.suffix()), ec);
  m.merged = true;
  m.cases = static_cast<int64_t>(cases.size());
  return m;
}

BuildReport build_cache(CacheWriter& writer, const std::vector<CaseJob>& jobs, const BuildOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::set<std::string> ids;
    for (const CaseJob& j : jobs)
      if (!ids.insert(j.id).second) throw Error("preprocess: case id '" + j.id + "' appears twice in the dataset");
  }
  BuildReport report;
  // A shard: every id of the dataset (sorted) for its index; its own share of them to do.
  std::vector<const CaseJob*> mine;
  for (const CaseJob& j : jobs) mine.push_back(&j);
  const Shard& shard = writer.shard();
  if (shard.enabled()) {
    std::sort(mine.begin(), mine.end(), [](const CaseJob* a, const CaseJob* b) { return a->id < b->id; });
    std::vector<std::string> ids;
    for (const CaseJob* j : mine) ids.push_back(j->id);
    writer.set_dataset_ids(ids);
    std::vector<const CaseJob*> owned;
    for (size_t i = 0; i < mine.size(); ++i)
      if (shard.owns(static_cast<int64_t>(i))) owned.push_back(mine[i]);
    spdlog::info("preprocess: shard {} (from {}): {} of the {} cases", shard.to_string(), shard.source, owned.size(),
                 mine.size());
    mine = std::move(owned);
  }
  std::vector<const CaseJob*> todo;
  for (const CaseJob* jp : mine) {
    const CaseJob& j = *jp;
    if (writer.is_current(j.id, j.signature)) {
      writer.keep(j.id);
      ++report.skipped;
    } else {
      todo.push_back(&j);
    }
  }
  if (report.skipped)
    spdlog::info("preprocess: {} case(s) already in {} with these settings, skipped", report.skipped,
                 writer.dir().string());

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int n_workers = static_cast<int>(std::min<int64_t>(opt.workers > 0 ? opt.workers : cores,
                                                           static_cast<int64_t>(todo.size())));
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::exception_ptr failure;
  std::unique_ptr<Progress> progress;
  if (opt.show_progress && !todo.empty())
    progress = std::make_unique<Progress>("preprocess", static_cast<int64_t>(todo.size()), "cases");
  auto work = [&] {
    single_threaded_ops_in_this_thread();  // one case per thread; parallelism comes from the cases
    for (;;) {
      if (stop) return;
      const size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      const CaseJob& job = *todo[i];
      try {
        CaseArrays c = job.load();
        if (c.meta.id.empty()) c.meta.id = job.id;
        if (c.meta.id != job.id) throw Error("case " + job.id + ": loader returned case '" + c.meta.id + "'");
        writer.add_case(c, job.signature);
        std::lock_guard<std::mutex> lock(mutex);
        ++report.processed;
      } catch (const CacheWriteError& e) {
        // The folder cannot take more (a full disk): every further case would fail the same
        // way, and skipping them would leave a cache silently short of cases.
        std::lock_guard<std::mutex> lock(mutex);
        ++report.failed;
        report.failures.emplace_back(job.id, e.what());
        if (!failure) failure = std::current_exception();
        stop = true;
      } catch (const std::exception& e) {
        std::string msg = e.what();
        if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) msg = ce->what_without_backtrace();
        if (msg.find(job.id) == std::string::npos) msg = "case " + job.id + ": " + msg;
        std::lock_guard<std::mutex> lock(mutex);
        ++report.failed;
        report.failures.emplace_back(job.id, msg);
        if (opt.on_bad_case == OnBadCase::kStop) {
          if (!failure) failure = std::make_exception_ptr(Error(msg + " (--on-bad-case skip leaves it out)"));
          stop = true;
        } else {
          spdlog::warn("skipping {}", msg);
        }
      }
      if (progress) progress->advance(1);
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < n_workers; ++w) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (progress) progress->finish();
  if (failure) {
    // The cases finished so far are listed for the next run to reuse; with none finished the
    // index stays as it was (an --overwrite that failed at once keeps the old cache usable).
    // A failure to write it (the disk that just filled up) must not hide the first error.
    if (writer.added() > 0) {
      try {
        writer.checkpoint();
      } catch (const std::exception& e) {
        spdlog::warn("preprocess: could not record the cases finished so far: {}", e.what());
      }
    }
    std::rethrow_exception(failure);
  }
  report.total_in_cache = writer.commit();
  if (shard.enabled()) {
    // Every shard commits its index before it looks at the others', so the last to finish
    // sees them all.
    const ShardMerge m = merge_cache_shards(writer.dir(), launcher_job_id(), shard.count);
    if (m.merged) {
      report.merged = true;
      report.total_in_cache = m.cases;
      spdlog::info("preprocess: all {} shards done; merged into {}", m.shards, (writer.dir() / kCacheIndexName).string());
    } else {
      spdlog::info("preprocess: shard {} done; waiting for {} before index.json is written", shard.to_string(),
                   m.waiting_for);
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace fratmae::data
