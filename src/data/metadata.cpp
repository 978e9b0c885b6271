#include "data/metadata.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/csv_table.h"

namespace fratmae::data {

using nlohmann::json;

json CaseMeta::to_json() const {
  return {{"case", id}, {"tracer", tracer}, {"diagnosis", diagnosis},
          {"age", age}, {"sex", sex},       {"stage", stage}};
}

CaseMeta CaseMeta::from_json(const json& j) {
  CaseMeta m;
  m.id = j.value("case", "");
  m.tracer = j.value("tracer", "");
  m.diagnosis = j.value("diagnosis", "");
  m.age = j.value("age", -1);
  m.sex = j.value("sex", "");
  m.stage = j.value("stage", 0);
  return m;
}

namespace {
std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}
std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

int parse_stage(const std::string& text) {
  const std::string s = upper(trim(text));
  if (s.empty() || s == "NA" || s == "N/A" || s == "-" || s == "0" || s == "UNKNOWN") return 0;
  if (s.size() == 1 && s[0] >= '1' && s[0] <= '4') return s[0] - '0';
  static const std::pair<const char*, int> romans[] = {{"IV", 4}, {"III", 3}, {"II", 2}, {"I", 1}};
  for (const auto& [roman, value] : romans) {
    const std::string r(roman);
    if (s.compare(0, r.size(), r) != 0) continue;
    const std::string suffix = s.substr(r.size());
    if (suffix.find_first_not_of("ABESX") == std::string::npos) return value;
  }
  throw Error("Ann Arbor stage '" + text + "' is not one of I, II, III, IV (optionally with A/B/E/S/X) or 1..4");
}

int64_t stage_label(int stage) {
  if (stage == 1 || stage == 2) return 0;
  if (stage == 3 || stage == 4) return 1;
  return -1;
}

std::string make_prompt(const CaseMeta& m) {
  auto field = [](const std::string& s) { return s.empty() ? std::string("unknown") : s; };
  std::string tracer = field(m.tracer);
  std::replace(tracer.begin(), tracer.end(), '-', ' ');
  return "<tracer> " + tracer + " <diagnosis> " + field(m.diagnosis) + " <age> " +
         (m.age >= 0 ? std::to_string(m.age) : std::string("unknown")) + " <sex> " + field(m.sex);
}

std::map<std::string, CaseMeta> read_metadata_csv(const std::filesystem::path& path) {
  return read_metadata_table(read_csv(path));
}

std::map<std::string, CaseMeta> read_metadata_table(const CsvTable& t) {
  const std::string need = "the header must contain case,tracer,diagnosis,age,sex (stage optional)";
  const int c_case = t.require("case", need), c_tracer = t.require("tracer", need),
            c_diag = t.require("diagnosis", need), c_age = t.require("age", need), c_sex = t.require("sex", need),
            c_stage = t.column("stage");
  std::map<std::string, CaseMeta> out;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const std::vector<std::string>& f = t.rows[r];
    const std::string where = "line " + std::to_string(t.lines[r]);
    CaseMeta m;
    m.id = f[c_case];
    if (m.id.empty()) throw FileError(t.path, where + ": empty case id");
    m.tracer = f[c_tracer];
    m.diagnosis = f[c_diag];
    m.sex = upper(f[c_sex]);
    if (!f[c_age].empty() && upper(f[c_age]) != "NA") {
      m.age = parse_age(f[c_age]);
      if (m.age < 0) throw FileError(t.path, where + ": age '" + f[c_age] + "' is not a number of years");
    }
    if (c_stage >= 0) {
      try {
        m.stage = parse_stage(f[c_stage]);
      } catch (const Error& e) {
        throw FileError(t.path, where + " (case " + m.id + "): " + e.what());
      }
    }
    if (!out.emplace(m.id, m).second) throw FileError(t.path, where + ": case '" + m.id + "' appears twice");
  }
  return out;
}

std::string tracer_from_radiopharmaceutical(const std::string& name) {
  const std::string s = lower(name);
  if (contains(s, "fdg") || contains(s, "fluorodeoxyglucose") || contains(s, "fludeoxyglucose"))
    return "18F-FDG";
  if (contains(s, "psma")) {
    if (contains(s, "68") || contains(s, "ga")) return "68Ga-PSMA";
    return "18F-PSMA";
  }
  if (contains(s, "dcfpyl") || contains(s, "piflufolastat")) return "18F-PSMA";
  return trim(name);
}

int parse_age(const std::string& text) {
  const std::string s = upper(trim(text));
  if (s.empty()) return -1;
  if (s.find('.') != std::string::npos) {  // "61.4"
    try {
      size_t used = 0;
      const double v = std::stod(s, &used);
      return used == s.size() && v >= 0 && v < 200 ? static_cast<int>(v + 0.5) : -1;
    } catch (const std::exception&) {
      return -1;
    }
  }
  size_t pos = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
  if (pos == 0 || pos > 3) return -1;
  const std::string unit = s.substr(pos);
  const int value = std::stoi(s.substr(0, pos));
  if (unit.empty() || unit == "Y") return value;
  if (unit == "M" || unit == "W" || unit == "D") return 0;
  return -1;
}

}  // namespace fratmae::data
