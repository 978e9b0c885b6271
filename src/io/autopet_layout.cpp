#include "io/autopet_layout.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/csv_table.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool is_hex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

enum class Channel { kOther, kCt, kPet };
Channel channel_kind(const std::string& name) {
  const std::string u = upper(name);
  if (u.find("PET") != std::string::npos || u.find("SUV") != std::string::npos || u == "PT") return Channel::kPet;
  if (u.find("CT") != std::string::npos) return Channel::kCt;
  return Channel::kOther;
}

struct Channels {
  std::string ct = "0000", pet = "0001", ending = ".nii.gz";
};

Channels read_dataset_json(const fs::path& dir) {
  Channels ch;
  const fs::path p = dir / "dataset.json";
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    spdlog::info("{}: no dataset.json; assuming AutoPET III's channels (_0000 CT, _0001 PET, .nii.gz)", dir.string());
    return ch;
  }
  json j;
  try {
    j = json::parse(read_file(p));
  } catch (const json::exception& e) {
    throw FileError(p, std::string("is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw FileError(p, "is not a JSON object");
  if (j.contains("file_ending")) {
    if (!j["file_ending"].is_string() || j["file_ending"].get<std::string>().empty())
      throw FileError(p, "'file_ending' must be a string such as \".nii.gz\"");
    ch.ending = j["file_ending"].get<std::string>();
  }
  // nnU-Net v2 says channel_names, v1 modality.
  const char* key = j.contains("channel_names") ? "channel_names" : j.contains("modality") ? "modality" : nullptr;
  if (!key) throw FileError(p, "has no 'channel_names'; it must say which channel is CT and which PET, e.g. "
                               "\"channel_names\": {\"0\": \"CT\", \"1\": \"PET\"}");
  const json& names = j[key];
  std::vector<std::string> ct, pet;
  if (names.is_object()) {
    for (const auto& [k, v] : names.items()) {
      if (!v.is_string()) throw FileError(p, std::string("'") + key + "' values must be strings");
      int index = -1;
      try {
        size_t used = 0;
        index = std::stoi(k, &used);
        if (used != k.size() || index < 0 || index > 9999) index = -1;
      } catch (const std::exception&) {
      }
      if (index < 0) throw FileError(p, std::string("'") + key + "' key '" + k + "' is not a channel number");
      char buf[8];
      std::snprintf(buf, sizeof(buf), "%04d", index);
      const Channel c = channel_kind(v.get<std::string>());
      if (c == Channel::kCt) ct.push_back(buf);
      if (c == Channel::kPet) pet.push_back(buf);
    }
  }
  if (ct.size() != 1 || pet.size() != 1)
    throw FileError(p, std::string("'") + key + "' " + names.dump() +
                           " does not say which channel is CT and which PET (one of each is needed, e.g. "
                           "{\"0\": \"CT\", \"1\": \"PET\"})");
  ch.ct = ct[0], ch.pet = pet[0];
  return ch;
}

// <case>_<4 digits><ending> -> (case, channel), or false.
bool split_image_name(const std::string& name, const std::string& ending, std::string& id, std::string& channel) {
  if (name.size() < ending.size() + 6 || name.compare(name.size() - ending.size(), ending.size(), ending) != 0)
    return false;
  const std::string stem = name.substr(0, name.size() - ending.size());
  const std::string digits = stem.substr(stem.size() - 4);
  if (stem[stem.size() - 5] != '_' || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) return false;
  id = stem.substr(0, stem.size() - 5);
  channel = digits;
  return !id.empty();
}

void add_split(const fs::path& dir, const std::string& images, const std::string& labels, const Channels& ch,
               std::vector<NnUnetCase>& out) {
  const fs::path img_dir = dir / images, lab_dir = dir / labels;
  std::error_code ec;
  if (!fs::is_directory(img_dir, ec)) return;
  std::map<std::string, std::map<std::string, fs::path>> found;  // case -> channel -> file
  for (const auto& e : fs::directory_iterator(img_dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    std::string id, channel;
    const std::string name = e.path().filename().string();
    if (name.rfind('.', 0) == 0 || !split_image_name(name, ch.ending, id, channel)) continue;
    found[id][channel] = e.path();
  }
  if (ec) throw FileError(img_dir, "cannot be listed: " + ec.message());
  const bool has_labels = fs::is_directory(lab_dir, ec);
  std::vector<std::string> unlabelled;
  for (const auto& [id, files] : found) {
    NnUnetCase c;
    c.id = id;
    for (const auto& [channel, kind] : {std::pair{ch.ct, "CT"}, std::pair{ch.pet, "PET"}}) {
      const auto it = files.find(channel);
      if (it == files.end())
        throw FileError(img_dir / (id + "_" + channel + ch.ending),
                        std::string("is missing: case '") + id + "' has no " + kind + " image (channel " + channel + ")");
      (std::string(kind) == "CT" ? c.ct : c.pet) = it->second;
    }
    if (has_labels) {
      const fs::path l = lab_dir / (id + ch.ending);
      if (fs::is_regular_file(l, ec))
        c.label = l;
      else
        unlabelled.push_back(id);
    }
    out.push_back(std::move(c));
  }
  if (has_labels) {
    for (const auto& e : fs::directory_iterator(lab_dir, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file(ec) || name.size() <= ch.ending.size() || name.rfind('.', 0) == 0 ||
          name.compare(name.size() - ch.ending.size(), ch.ending.size(), ch.ending) != 0)
        continue;
      const std::string id = name.substr(0, name.size() - ch.ending.size());
      if (!found.count(id))
        throw FileError(e.path(), "is a label without images: no " + images + "/" + id + "_" + ch.ct + ch.ending);
    }
  }
  if (!unlabelled.empty())
    spdlog::warn("{}: {} case(s) have no label in {} (first: '{}'); they are used without a lesion mask",
                 img_dir.string(), unlabelled.size(), labels, unlabelled.front());
}

// M/D/YYYY or YYYY-MM-DD -> YYYY-MM-DD; "" when neither.
std::string iso_date(const std::string& s) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 ||
      std::sscanf(s.c_str(), "%2d/%2d/%4d%c", &m, &d, &y, &tail) == 3) {
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > 31) return "";
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, m, d);
    return buf;
  }
  return "";
}

// "MELANOMA" -> "melanoma", "LUNG_CANCER" -> "lung cancer", "NEGATIVE" -> "negative control"
// (the names the phantom cohort uses, so prompts read alike).
std::string diagnosis_name(const std::string& s) {
  std::string d = lower(s);
  std::replace(d.begin(), d.end(), '_', ' ');
  if (d == "negative") return "negative control";
  return d;
}

}  // namespace

bool is_nnunet_dataset(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "imagesTr", ec) || fs::is_directory(dir / "imagesTs", ec);
}

std::vector<NnUnetCase> discover_nnunet(const fs::path& dir) {
  const Channels ch = read_dataset_json(dir);
  std::vector<NnUnetCase> out;
  add_split(dir, "imagesTr", "labelsTr", ch, out);
  add_split(dir, "imagesTs", "labelsTs", ch, out);
  std::set<std::string> ids;
  for (const NnUnetCase& c : out)
    if (!ids.insert(c.id).second)
      throw FileError(dir, "case '" + c.id + "' is in both imagesTr and imagesTs");
  std::sort(out.begin(), out.end(), [](const NnUnetCase& a, const NnUnetCase& b) { return a.id < b.id; });
  return out;
}

std::string autopet_study_key(const std::string& id) {
  // AutoPET III: fdg_<hex>_<study folder>, psma_<hex>_<date>.
  for (const char* prefix : {"fdg_", "psma_"}) {
    if (!starts_with(id, prefix) || id.find('/') != std::string::npos) continue;
    const size_t a = std::string(prefix).size(), b = id.find('_', a);
    if (b == std::string::npos || b + 1 >= id.size()) return "";
    const std::string hex = id.substr(a, b - a), rest = id.substr(b + 1);
    if (!is_hex(hex)) return "";
    if (prefix[0] == 'f') return "fdg:" + lower(hex) + "/" + rest;
    const std::string date = iso_date(rest);
    return date.empty() ? "" : "psma:" + lower(hex) + "/" + date;
  }
  // A TCIA tree: .../PETCT_<hex>/<study folder>[/...].
  std::vector<std::string> parts;
  std::string cur;
  for (char c : id) {
    if (c == '/' || c == '\\') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    if (starts_with(upper(parts[i]), "PETCT_") && is_hex(parts[i].substr(6)) && !parts[i + 1].empty())
      return "fdg:" + lower(parts[i].substr(6)) + "/" + parts[i + 1];
  return "";
}

MetadataForm metadata_form(const data::CsvTable& t) {
  if (t.column("case") >= 0) return MetadataForm::kFratmae;
  if (t.column("subject id") >= 0 && t.column("file location") >= 0) return MetadataForm::kFdg;
  if (t.column("subject id") >= 0 && t.column("pet_radionuclide") >= 0) return MetadataForm::kPsma;
  std::string have;
  for (const std::string& h : t.header) have += (have.empty() ? "" : ", ") + h;
  throw FileError(t.path, "is not a metadata table fratmae knows: expected a 'case' column (case,tracer,diagnosis,"
                          "age,sex[,stage]), AutoPET's FDG table (Subject ID, File Location, diagnosis, age, sex) "
                          "or its PSMA table (Subject ID, Study Date, age, pet_radionuclide); its columns are: " + have);
}

std::map<std::string, data::CaseMeta> read_autopet_metadata(const data::CsvTable& t) {
  const MetadataForm form = metadata_form(t);
  if (form == MetadataForm::kFratmae) throw FileError(t.path, "is fratmae's own metadata table, not AutoPET's");
  const bool fdg = form == MetadataForm::kFdg;
  const int c_subject = t.require("subject id", "the patient"), c_age = t.column("age");
  const int c_loc = fdg ? t.require("file location", "the study folder of each series") : -1;
  const int c_diag = fdg ? t.column("diagnosis") : -1, c_sex = fdg ? t.column("sex") : -1;
  const int c_date = fdg ? -1 : t.require("study date", "which study of the patient");
  const int c_nuclide = fdg ? -1 : t.require("pet_radionuclide", "18F or 68Ga");
  const std::string subject_prefix = fdg ? "PETCT_" : "PSMA_";
  std::map<std::string, data::CaseMeta> out;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::vector<std::string>& f = t.rows[r];
    const std::string where = "line " + std::to_string(t.lines[r]);
    const std::string subject = f[c_subject];
    if (!starts_with(upper(subject), subject_prefix) || !is_hex(subject.substr(subject_prefix.size())))
      throw FileError(t.path, where + ": Subject ID '" + subject + "' is not " + subject_prefix + "<hex>");
    const std::string hex = lower(subject.substr(subject_prefix.size()));
    std::string key;
    data::CaseMeta m;
    if (fdg) {
      // The study folder follows the subject's folder in File Location.
      const std::string k = autopet_study_key(f[c_loc]);
      if (k.empty() || k.compare(0, 4 + hex.size() + 1, "fdg:" + hex + "/") != 0)
        throw FileError(t.path, where + ": File Location '" + f[c_loc] + "' does not name a study folder of " + subject);
      key = k;
      m.tracer = "18F-FDG";
      if (c_diag >= 0) m.diagnosis = diagnosis_name(f[c_diag]);
      if (c_sex >= 0) m.sex = upper(f[c_sex]);
    } else {
      const std::string date = iso_date(f[c_date]);
      if (date.empty())
        throw FileError(t.path, where + ": Study Date '" + f[c_date] + "' is not a date (YYYY-MM-DD)");
      key = "psma:" + hex + "/" + date;
      const std::string n = upper(f[c_nuclide]);
      m.tracer = n.find("68") != std::string::npos || n.find("GA") != std::string::npos ? "68Ga-PSMA"
                 : n.find("18") != std::string::npos                                   ? "18F-PSMA"
                                                                                       : "";
      m.diagnosis = "prostate cancer";
      m.sex = "M";
    }
    if (c_age >= 0 && !f[c_age].empty() && upper(f[c_age]) != "NA") {
      m.age = data::parse_age(f[c_age]);
      if (m.age < 0) throw FileError(t.path, where + ": age '" + f[c_age] + "' is not a number of years");
    }
    // One row per series: the study's fields are the first non-empty ones.
    auto [it, fresh] = out.emplace(key, m);
    if (!fresh) {
      data::CaseMeta& s = it->second;
      if (s.diagnosis.empty()) s.diagnosis = m.diagnosis;
      if (s.sex.empty()) s.sex = m.sex;
      if (s.age < 0) s.age = m.age;
      if (s.tracer.empty()) s.tracer = m.tracer;
    }
  }
  return out;
}

const std::vector<std::string>& metadata_file_names() {
  static const std::vector<std::string> names{"metadata.csv", "fdg_metadata.csv", "psma_metadata.csv",
                                              "Clinical Metadata FDG PET_CT Lesions.csv"};
  return names;
}

}  // namespace fratmae::io
