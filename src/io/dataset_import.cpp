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

std::vector<DatasetCase> discover_dataset(const fs::path& data_dir, const fs::path& metadata_csv,
                                          const fs::path& exclude) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) throw FileError(data_dir, "is not a folder; --data needs a dataset folder");
  std::vector<fs::path> dirs;
  find_case_dirs(data_dir, 3, exclude, dirs);
  if (dirs.empty())
    throw FileError(data_dir, "no cases found: expected <case>/SUV.nii.gz with CTres.nii.gz (AutoPET layout, "
                              "fratmae phantom) or folders written by fratmae convert");

  fs::path csv = metadata_csv;
  if (csv.empty() && fs::is_regular_file(data_dir / "metadata.csv", ec)) csv = data_dir / "metadata.csv";
  std::map<std::string, data::CaseMeta> table;
  if (!csv.empty()) table = data::read_metadata_csv(csv);

  std::map<std::string, int> first_component_count;
  std::vector<DatasetCase> cases;
  for (const fs::path& d : dirs) {
    DatasetCase c;
    c.dir = d;
    const fs::path rel = d.lexically_relative(data_dir);
    c.id = (rel.empty() || rel == ".") ? folder_name(d) : rel.generic_string();  // DIR itself is a study
    c.suv = find_image(d, "SUV");
    c.ct = find_image(d, "CTres");
    c.seg = find_image(d, "SEG");
    ++first_component_count[c.id.substr(0, c.id.find('/'))];
    cases.push_back(std::move(c));
  }

  std::vector<std::string> missing;
  for (DatasetCase& c : cases) {
    const std::string leaf = c.dir.filename().string(), first = c.id.substr(0, c.id.find('/'));
    const data::CaseMeta* row = nullptr;
    for (const std::string& key : {c.id, leaf, first}) {
      if (key == first && first_component_count[first] > 1) continue;
      const auto it = table.find(key);
      if (it != table.end()) {
        row = &it->second;
        break;
      }
    }
    if (row) {
      c.meta = *row;
      c.metadata_source = csv;
    } else if (fs::is_regular_file(c.dir / "study.json", ec)) {
      c.meta = meta_from_study_json(c.dir / "study.json", c.id);
      c.metadata_source = c.dir / "study.json";
      if (!csv.empty()) missing.push_back(c.id);
    } else if (!csv.empty()) {
      missing.push_back(c.id);
    }
    c.meta.id = c.id;
  }
  if (!missing.empty())
    spdlog::warn("{} case(s) have no row in {} (first: {}); their prompts say 'unknown' where metadata is missing",
                 missing.size(), csv.string(), missing.front());
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
}

data::BuildReport preprocess_dataset(const PreprocessConfig& cfg) {
  cfg.validate();
  const std::vector<DatasetCase> cases = discover_dataset(cfg.data, cfg.metadata, cfg.out);
  spdlog::info("preprocess: {} case(s) in {}; whole body {} x {} x {}{}", cases.size(), cfg.data.string(),
               cfg.settings.size[0], cfg.settings.size[1], cfg.settings.size[2],
               cfg.settings.native ? ", plus native resolution" : "");
  std::vector<data::CaseJob> jobs;
  for (const DatasetCase& c : cases) jobs.push_back(dataset_job(c));
  data::CacheWriter writer(cfg.out, cfg.settings, cfg.overwrite);
  return data::build_cache(writer, jobs, cfg.build);
}

}  // namespace fratmae::io
