#include "io/predict_folder.h"

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/folder_lock.h"
#include "core/progress.h"
#include "core/provenance.h"
#include "core/shard.h"
#include "io/dataset_import.h"
#include "io/dicom_series.h"
#include "train/finetuner.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

bool same_or_inside(const fs::path& p, const fs::path& dir) {
  std::error_code ec;
  if (dir.empty()) return false;
  const fs::path a = fs::weakly_canonical(p, ec), b = fs::weakly_canonical(dir, ec);
  const auto r = a.lexically_relative(b);
  return !r.empty() && r.native().rfind("..", 0) != 0;
}

// The PET and CT series of one DICOM study folder (searched `depth` folders down).
void collect_series(const fs::path& dir, int depth, std::vector<DicomSeries>& out) {
  std::error_code ec;
  try {
    for (DicomSeries& s : scan_dicom_folder(dir))
      if (s.has_pixels && (s.modality == "PT" || s.modality == "CT")) out.push_back(std::move(s));
  } catch (const Error&) {
    // An unreadable file in one folder: the study is then reported by predict itself, if found.
  }
  if (depth == 0) return;
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind('.', 0) != 0) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  for (const fs::path& s : subs) collect_series(s, depth - 1, out);
}

std::optional<FolderStudy> dicom_study(const fs::path& dir, const std::string& id) {
  std::vector<DicomSeries> series;
  collect_series(dir, 3, series);
  std::vector<const DicomSeries*> pets, cts;
  for (const DicomSeries& s : series) (s.modality == "PT" ? pets : cts).push_back(&s);
  if (pets.empty()) return std::nullopt;
  if (pets.size() > 1)
    throw FileError(dir, "holds " + std::to_string(pets.size()) + " PET series; a study folder should hold one");
  FolderStudy st;
  st.id = id;
  st.kind = "dicom";
  st.pet = pets.front()->files.front();
  // The CT of the PET's frame of reference (the only CT when none says).
  const DicomSeries* ct = nullptr;
  for (const DicomSeries* c : cts)
    if (c->frame_of_reference_uid == pets.front()->frame_of_reference_uid) {
      if (ct) throw FileError(dir, "holds several CT series of the PET's frame of reference; a study folder should hold one");
      ct = c;
    }
  if (!ct && cts.size() == 1) ct = cts.front();
  if (ct) st.ct = ct->files.front();
  return st;
}

// "12 s", "3:04"
std::string seconds_text(double s) { return Progress::format_duration(s); }

std::string table_of(const json& rows) {
  size_t w = 4;
  for (const json& r : rows) w = std::max(w, r["case"].get<std::string>().size());
  std::string table = fmt::format("{:<{}}  {:<22}  {:>7}  {:>9}  {:>6}\n", "case", w, "status", "lesions", "MTV (mL)", "time");
  for (const json& r : rows) {
    const std::string lesions = r.contains("lesions") ? std::to_string(r["lesions"].get<int64_t>()) : "-";
    const std::string mtv = r.contains("mtv_ml") ? fmt::format("{:.1f}", r["mtv_ml"].get<double>()) : "-";
    table += fmt::format("{:<{}}  {:<22}  {:>7}  {:>9}  {:>6}\n", r["case"].get<std::string>(), w,
                         r["status"].get<std::string>().substr(0, 22), lesions, mtv, seconds_text(r["seconds"]));
  }
  return table;
}

// With every shard's summary of this job present, summary.json as one process would write it.
std::optional<json> merged_summary(const fs::path& out, const Shard& shard, const json& mine) {
  json rows = json::array();
  int64_t done = 0, skipped = 0, failed = 0;
  double seconds = 0;
  for (int64_t i = 0; i < shard.count; ++i) {
    const fs::path f = out / ("summary" + Shard{i, shard.count}.suffix() + ".json");
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) return std::nullopt;
    const json s = json::parse(read_file(f), nullptr, false);
    if (s.is_discarded() || s.value("job", std::string("?")) != mine["job"] || s["input"] != mine["input"] ||
        s["model"] != mine["model"] || s["floor"] != mine["floor"] || s["study_ids"] != mine["study_ids"])
      return std::nullopt;  // another job's, or not finished
    for (const json& r : s["studies"]) rows.push_back(r);
    done += s["done"].get<int64_t>(), skipped += s["skipped"].get<int64_t>(), failed += s["failed"].get<int64_t>();
    seconds = std::max(seconds, s["seconds"].get<double>());
  }
  std::sort(rows.begin(), rows.end(), [](const json& a, const json& b) { return a["case"] < b["case"]; });
  json m = mine;
  m.erase("shard");
  m["shards"] = shard.count;
  m["studies"] = rows;
  m["done"] = done, m["skipped"] = skipped, m["failed"] = failed;
  m["seconds"] = seconds;  // the slowest shard's
  return m;
}

}  // namespace

std::string output_stem(const std::string& case_id) {
  std::string s;
  for (char c : case_id) {
    if (c == '/') s += "__";
    else s += c;
  }
  return s;
}

std::vector<FolderStudy> discover_studies(const fs::path& dir, const fs::path& exclude) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FileError(dir, "is not a folder (--input needs a folder of studies)");
  std::vector<FolderStudy> studies;
  std::vector<fs::path> image_dirs;
  for (const DatasetCase& c : find_image_cases(dir, exclude)) {
    if (same_or_inside(c.dir, exclude)) continue;
    studies.push_back({c.id, c.suv, c.ct, "image"});
    image_dirs.push_back(c.dir);
  }
  // DICOM: every sub-folder that is not (and does not hold) an image case.
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind('.', 0) != 0) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  for (const fs::path& s : subs) {
    if (same_or_inside(s, exclude) || same_or_inside(exclude, s)) continue;
    bool images = false;
    for (const fs::path& d : image_dirs) images = images || same_or_inside(d, s) || same_or_inside(s, d);
    if (images) continue;
    if (auto st = dicom_study(s, s.filename().string())) studies.push_back(*st);
  }
  std::sort(studies.begin(), studies.end(), [](const FolderStudy& a, const FolderStudy& b) { return a.id < b.id; });
  for (size_t i = 1; i < studies.size(); ++i)
    if (output_stem(studies[i].id) == output_stem(studies[i - 1].id))
      throw FileError(dir, "two studies would share the output name '" + output_stem(studies[i].id) + "'");
  if (studies.empty())
    throw FileError(dir, "holds no study: expected image cases (<case>/SUV.nii.gz, an nnU-Net imagesTr/ or imagesTs/) "
                         "or sub-folders with a DICOM PET series");
  return studies;
}

json predict_folder(const PredictConfig& cfg) {
  if (cfg.input.empty()) throw Error("predict: --input FOLDER is required for a folder of studies");
  cfg.validate();
  if (!cfg.pet.empty() || !cfg.ct.empty())
    throw Error("predict: give --input FOLDER (many studies) or --pet/--ct (one study), not both");
  if (cfg.out.empty()) throw Error("predict: --out FOLDER is required");
  if (same_or_inside(cfg.input, cfg.out) || fs::weakly_canonical(cfg.input) == fs::weakly_canonical(cfg.out))
    throw Error("predict: --out must not be the --input folder or hold it");
  const auto t0 = std::chrono::steady_clock::now();
  const Shard shard = Shard::resolve(cfg.shard);
  const std::vector<FolderStudy> all = discover_studies(cfg.input, cfg.out);
  std::vector<FolderStudy> studies;
  json study_ids = json::array();
  for (size_t i = 0; i < all.size(); ++i) {
    study_ids.push_back(all[i].id);
    if (shard.owns(static_cast<int64_t>(i))) studies.push_back(all[i]);
  }
  FolderLock lock(cfg.out, "predict --input " + cfg.input.string() + (shard.enabled() ? " --shard " + shard.to_string() : ""),
                  std::string(FolderLock::kFileName) + shard.suffix());
  std::optional<train::DownstreamModel> model;
  if (cfg.floor.empty() && !studies.empty()) model = train::load_finetuned(cfg.model, cfg.device);
  if (shard.enabled())
    spdlog::info("predict: shard {} (from {}): {} of the {} studies in {}", shard.to_string(), shard.source, studies.size(),
                 all.size(), cfg.input.string());
  else
    spdlog::info("predict: {} studies in {}", studies.size(), cfg.input.string());

  json rows = json::array();
  int64_t done = 0, skipped = 0, failed = 0;
  Progress progress("predict", static_cast<int64_t>(studies.size()), "studies");
  for (const FolderStudy& st : studies) {
    const std::string stem = output_stem(st.id);
    PredictConfig one = cfg;
    one.input.clear();
    one.pet = st.pet;
    one.ct = st.ct;
    one.out = cfg.out / stem;
    const fs::path mask_copy = cfg.out / (stem + ".nii.gz");
    json row = {{"case", st.id}, {"kind", st.kind}, {"pet", st.pet.string()}, {"ct", st.ct.string()},
                {"output", one.out.string()}};
    const auto ts = std::chrono::steady_clock::now();
    try {
      json rec;
      std::error_code ec;
      if (!cfg.overwrite && fs::is_regular_file(one.out / "prediction.json", ec)) {
        rec = json::parse(read_file(one.out / "prediction.json"));
        row["status"] = "skipped (already done)";
        ++skipped;
      } else {
        rec = model ? predict_study(one, *model) : predict_study(one);
        row["status"] = "done";
        ++done;
      }
      if (fs::is_regular_file(one.out / "SEG.nii.gz", ec)) {
        if (cfg.overwrite || !fs::is_regular_file(mask_copy, ec)) write_file_atomic(mask_copy, read_file(one.out / "SEG.nii.gz"));
        row["mask"] = mask_copy.filename().string();
      }
      for (const char* k : {"lesions", "mtv_ml", "tlg", "stage"})
        if (rec.contains(k)) row[k] = rec[k];
    } catch (const std::exception& e) {
      row["status"] = "failed";
      row["error"] = e.what();
      ++failed;
      spdlog::error("predict: {}: {}", st.id, e.what());
    }
    row["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    rows.push_back(row);
    progress.advance(1, st.id + ": " + row["status"].get<std::string>());
  }
  progress.finish();

  json summary = {{"provenance", provenance()},
                  {"input", cfg.input.string()},
                  {"model", cfg.floor.empty() ? json(cfg.model.string()) : json(nullptr)},
                  {"floor", cfg.floor.empty() ? json(nullptr) : json(cfg.floor)},
                  {"studies", rows},
                  {"done", done},
                  {"skipped", skipped},
                  {"failed", failed},
                  {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  if (!shard.enabled()) {
    write_file_atomic(cfg.out / "summary.json", summary.dump(2) + "\n");
  } else {
    summary["shard"] = shard.to_string();
    summary["job"] = launcher_job_id();
    summary["study_ids"] = study_ids;
    write_file_atomic(cfg.out / ("summary" + shard.suffix() + ".json"), summary.dump(2) + "\n");
    // Every shard writes its own summary before it looks at the others', so the last to finish
    // sees them all (two finishing together both write the same summary.json).
    if (const auto m = merged_summary(cfg.out, shard, summary)) {
      write_file_atomic(cfg.out / "summary.json", m->dump(2) + "\n");
      spdlog::info("predict: all {} shards done: {} done, {} skipped, {} failed of {} studies; {}", shard.count,
                   (*m)["done"].get<int64_t>(), (*m)["skipped"].get<int64_t>(), (*m)["failed"].get<int64_t>(),
                   (*m)["studies"].size(), (cfg.out / "summary.json").string());
    }
  }
  spdlog::info("predict: {} done, {} skipped, {} failed of {} studies{}\n{}", done, skipped, failed, rows.size(),
               shard.enabled() ? " (shard " + shard.to_string() + ")" : "", table_of(rows));
  if (failed > 0) {
    std::string names;
    for (const json& r : rows)
      if (r["status"] == "failed") names += (names.empty() ? "" : ", ") + r["case"].get<std::string>();
    throw Error("predict: " + std::to_string(failed) + " of " + std::to_string(rows.size()) + " studies failed (" + names +
                "); the others are in " + cfg.out.string() + " (summary" + shard.suffix() + ".json says why each failed)");
  }
  return summary;
}

}  // namespace fratmae::io
