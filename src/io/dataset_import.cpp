#include "io/dataset_import.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/shard.h"
#include "data/csv_table.h"
#include "io/autopet_layout.h"
#include "io/image_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

const char* kExtensions[] = {".nii.gz", ".nii", ".nrrd", ".mha"};

// DIR/<stem><ext> for the first extension present, or empty.
fs::path find_image(const fs::path& dir, const std::string& stem) {
  std::error_code ec;
  for (const char* ext : kExtensions) {
    const fs::path p = dir / (stem + ext);
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

std::string folder_name(const fs::path& p) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (a.filename().empty()) a = a.parent_path();
  return a.filename().empty() ? std::string("case") : a.filename().string();
}

bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec1, ec2;
  return fs::weakly_canonical(a, ec1) == fs::weakly_canonical(b, ec2);
}

void find_case_dirs(const fs::path& dir, int depth, const fs::path& exclude, std::vector<fs::path>& out) {
  if (!find_image(dir, "SUV").empty()) {
    out.push_back(dir);
    return;
  }
  if (depth == 0) return;
  std::vector<fs::path> subs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind('.', 0) != 0) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  for (const fs::path& s : subs)
    if (exclude.empty() || !same_path(s, exclude)) find_case_dirs(s, depth - 1, exclude, out);
}

// Metadata from fratmae convert's study.json (DICOM header fields), and any of the CSV's
// field names a user added at its top level.
data::CaseMeta meta_from_study_json(const fs::path& path, const std::string& id) {
  data::CaseMeta m;
  m.id = id;
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw FileError(path, std::string("is not valid JSON: ") + e.what());
  }
  const json pet = j.value("pet", json::object());
  auto str = [](const json& o, const char* key) {
    return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
  };
  m.tracer = data::tracer_from_radiopharmaceutical(str(pet, "radiopharmaceutical"));
  m.sex = str(pet, "patient_sex");
  m.age = data::parse_age(str(pet, "patient_age"));
  if (!str(j, "tracer").empty()) m.tracer = str(j, "tracer");
  if (!str(j, "diagnosis").empty()) m.diagnosis = str(j, "diagnosis");
  if (!str(j, "sex").empty()) m.sex = str(j, "sex");
  if (j.contains("age")) m.age = j["age"].is_number() ? j["age"].get<int>() : data::parse_age(str(j, "age"));
  if (j.contains("stage"))
    m.stage = j["stage"].is_number() ? j["stage"].get<int>() : data::parse_stage(str(j, "stage"));
  return m;
}

std::string file_stamp(const fs::path& p) {
  if (p.empty()) return "-";
  std::error_code ec;
  const auto size_or_error = fs::file_size(p, ec);
  const auto size = ec ? 0 : size_or_error;
  const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
  // The file, not its spelling: `ph`, `./ph` and `ph/` name the same case.
  const fs::path canon = fs::weakly_canonical(p, ec);
  return (ec ? p.lexically_normal() : canon).string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

std::string hash_hex(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

namespace {

// Every metadata table a dataset has: fratmae's own (by case id) and AutoPET's (by study key).
struct MetadataIndex {
  std::vector<fs::path> files;
  std::map<std::string, std::pair<data::CaseMeta, fs::path>> by_case, by_study;

  void add(const fs::path& path) {
    const data::CsvTable t = data::read_csv(path);
    const bool own = metadata_form(t) == MetadataForm::kFratmae;
    auto& into = own ? by_case : by_study;
    for (auto& [key, meta] : own ? data::read_metadata_table(t) : read_autopet_metadata(t))
      if (!into.emplace(key, std::pair{meta, path}).second && own)
        throw FileError(path, "case '" + key + "' is also in " + into.at(key).second.string());
    files.push_back(path);
  }
  bool empty() const { return files.empty(); }
  std::string names() const {
    std::string s;
    for (const fs::path& f : files) s += (s.empty() ? "" : ", ") + f.string();
    return s;
  }
};

// The metadata files: those given, else those recognised inside the dataset folder.
MetadataIndex load_metadata(const fs::path& data_dir, const std::vector<fs::path>& given) {
  MetadataIndex index;
  std::error_code ec;
  if (!given.empty()) {
    for (const fs::path& p : given) {
      if (!fs::is_regular_file(p, ec)) throw FileError(p, "does not exist or is not a file (--metadata)");
      index.add(p);
    }
    return index;
  }
  for (const std::string& name : metadata_file_names())
    if (fs::is_regular_file(data_dir / name, ec)) index.add(data_dir / name);
  return index;
}

}  // namespace

std::vector<DatasetCase> find_image_cases(const fs::path& data_dir, const fs::path& exclude) {
  std::vector<DatasetCase> cases;
  if (is_nnunet_dataset(data_dir)) {
    for (const NnUnetCase& n : discover_nnunet(data_dir)) {
      DatasetCase c;
      c.id = n.id;
      c.dir = n.pet.parent_path();
      c.suv = n.pet, c.ct = n.ct, c.seg = n.label;
      cases.push_back(std::move(c));
    }
    return cases;
  }
  std::vector<fs::path> dirs;
  find_case_dirs(data_dir, 3, exclude, dirs);
  for (const fs::path& d : dirs) {
    DatasetCase c;
    c.dir = d;
    const fs::path rel = d.lexically_relative(data_dir);
    c.id = (rel.empty() || rel == ".") ? folder_name(d) : rel.generic_string();  // DIR itself is a study
    c.suv = find_image(d, "SUV");
    c.ct = find_image(d, "CTres");
    c.seg = find_image(d, "SEG");
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<DatasetCase> discover_dataset(const fs::path& data_dir, const std::vector<fs::path>& metadata,
                                          const fs::path& exclude) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) throw FileError(data_dir, "is not a folder; --data needs a dataset folder");
  std::vector<DatasetCase> cases = find_image_cases(data_dir, exclude);
  if (cases.empty() && is_nnunet_dataset(data_dir))
    throw FileError(data_dir, "is an nnU-Net dataset without cases: imagesTr/ holds no <case>_0000 / _0001 images");
  if (cases.empty())
    throw FileError(data_dir, "no cases found: expected <case>/SUV.nii.gz with CTres.nii.gz (AutoPET I/II, "
                              "fratmae phantom), imagesTr/<case>_0000.nii.gz (AutoPET III, nnU-Net) or "
                              "folders written by fratmae convert");

  const MetadataIndex index = load_metadata(data_dir, metadata);
  std::map<std::string, int> first_component_count;
  for (const DatasetCase& c : cases) ++first_component_count[c.id.substr(0, c.id.find('/'))];
  std::vector<std::string> missing;
  for (DatasetCase& c : cases) {
    const std::string leaf = c.dir.filename().string(), first = c.id.substr(0, c.id.find('/'));
    const std::pair<data::CaseMeta, fs::path>* row = nullptr;
    for (const std::string& key : {c.id, leaf, first}) {
      if (key == first && first_component_count[first] > 1) continue;
      if (key == leaf && c.dir.filename() != fs::path(c.id).filename()) continue;  // nnU-Net: the images folder
      const auto it = index.by_case.find(key);
      if (it != index.by_case.end()) {
        row = &it->second;
        break;
      }
    }
    if (!row) {
      const std::string key = autopet_study_key(c.id);
      const auto it = key.empty() ? index.by_study.end() : index.by_study.find(key);
      if (it != index.by_study.end()) row = &it->second;
    }
    if (row) {
      c.meta = row->first;
      c.metadata_source = row->second;
    } else if (fs::is_regular_file(c.dir / "study.json", ec)) {
      c.meta = meta_from_study_json(c.dir / "study.json", c.id);
      c.metadata_source = c.dir / "study.json";
      if (!index.empty()) missing.push_back(c.id);
    } else if (!index.empty()) {
      missing.push_back(c.id);
    }
    c.meta.id = c.id;
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? "', '" : "'") + missing[i];
    list += "'";
    if (missing.size() > 5) list += " and " + std::to_string(missing.size() - 5) + " more";
    spdlog::warn("{} case(s) have no row in {}: {}; their prompts say 'unknown' where metadata is missing",
                 missing.size(), index.names(), list);
  }
  return cases;
}

data::CaseArrays load_dataset_case(const DatasetCase& c) {
  if (c.ct.empty())
    throw FileError(c.dir, "case " + c.id + " has no CTres.nii.gz (CT on the PET grid); make one with fratmae convert");
  const Volume suv = read_image(c.suv);
  require_finite(suv, c.suv);
  const Volume ct = read_image(c.ct);
  require_finite(ct, c.ct);
  std::optional<Volume> seg;
  if (!c.seg.empty()) seg = read_labels(c.seg);
  data::CaseArrays a = data::case_from_volumes(c.meta, ct, suv, seg);
  a.sources = {{"dir", c.dir.string()},
               {"suv", c.suv.string()},
               {"ct", c.ct.string()},
               {"seg", c.seg.empty() ? json(nullptr) : json(c.seg.string())},
               {"metadata", c.metadata_source.empty() ? json(nullptr) : json(c.metadata_source.string())}};
  return a;
}

data::CaseJob dataset_job(const DatasetCase& c) {
  data::CaseJob j;
  j.id = c.id;
  j.signature = hash_hex(file_stamp(c.suv) + "\n" + file_stamp(c.ct) + "\n" + file_stamp(c.seg) + "\n" +
                         c.meta.to_json().dump());
  j.load = [c] { return load_dataset_case(c); };
  return j;
}

void PreprocessConfig::validate() const {
  if (data.empty()) throw Error("preprocess: --data DIR is required");
  if (out.empty()) throw Error("preprocess: --out CACHE is required");
  if (same_path(data, out)) throw Error("preprocess: --out must not be the --data folder; choose another one");
  settings.validate();
  if (build.workers < 0) throw Error("preprocess: --workers must be >= 0 (0 = one per core)");
  Shard::resolve(shard);  // a malformed --shard or launcher variable is refused before any work
}

data::BuildReport preprocess_dataset(const PreprocessConfig& cfg) {
  cfg.validate();
  const std::vector<DatasetCase> cases = discover_dataset(cfg.data, cfg.metadata, cfg.out);
  spdlog::info("preprocess: {} case(s) in {}; whole body {} x {} x {}{}", cases.size(), cfg.data.string(),
               cfg.settings.size[0], cfg.settings.size[1], cfg.settings.size[2],
               cfg.settings.native ? ", plus native resolution" : "");
  std::vector<data::CaseJob> jobs;
  for (const DatasetCase& c : cases) jobs.push_back(dataset_job(c));
  data::CacheWriter writer(cfg.out, cfg.settings, cfg.overwrite, {}, Shard::resolve(cfg.shard));
  return data::build_cache(writer, jobs, cfg.build);
}

}  // namespace fratmae::io
