// Per-study metadata, the paper's text prompt, and the metadata CSV of a dataset.
//
// Prompt (paper §2.4, ContextAlign):  "<tracer> 18F FDG <diagnosis> melanoma <age> 61 <sex> M"
//   tracer: hyphens written as spaces ("18F-FDG" -> "18F FDG", "68Ga-PSMA" -> "68Ga PSMA");
//   a field that is not known is written "unknown".
// CSV: header with at least case,tracer,diagnosis,age,sex; optional stage ("I".."IV" with an
// optional A/B/E/S/X suffix, or "1".."4"; empty / NA / 0 = unknown). Other columns are ignored.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace fratmae::data {

struct CaseMeta {
  std::string id;
  std::string tracer;     // "18F-FDG", "18F-PSMA", "68Ga-PSMA", ...; "" = unknown
  std::string diagnosis;  // "melanoma", "lymphoma", ...; "" = unknown
  int age = -1;           // years; -1 = unknown
  std::string sex;        // "M" | "F" | "O"; "" = unknown
  int stage = 0;          // Ann Arbor 1..4; 0 = unknown / not applicable

  nlohmann::json to_json() const;
  static CaseMeta from_json(const nlohmann::json& j);
};

/// Ann Arbor stage from "I".."IV" (suffixes A, B, E, S, X allowed: "IIIB"), "1".."4", or
/// "" / "NA" / "0" / "-" (unknown: 0). Throws fratmae::Error for anything else.
int parse_stage(const std::string& text);

/// Staging label of the paper's task: 0 early (I, II), 1 advanced (III, IV), -1 unknown.
int64_t stage_label(int stage);

/// The paper's prompt for `m` (see top of file).
std::string make_prompt(const CaseMeta& m);

/// Reads a metadata CSV (see top of file); keys are the `case` column. Throws FileError naming
/// the file and line for a missing column, a duplicate case, a bad age or stage.
std::map<std::string, CaseMeta> read_metadata_csv(const std::filesystem::path& path);

struct CsvTable;
/// The same for a table already read (data/csv_table.h).
std::map<std::string, CaseMeta> read_metadata_table(const CsvTable& table);

/// Canonical tracer name from a DICOM RadiopharmaceuticalDescription-like string
/// ("Fluorodeoxyglucose" -> "18F-FDG", "Ga-68 PSMA-11" -> "68Ga-PSMA"); unknown names are
/// returned trimmed, as given.
std::string tracer_from_radiopharmaceutical(const std::string& name);

/// Age in years from "61", "061Y" (DICOM AgeString; months/weeks/days give 0); -1 if unreadable.
int parse_age(const std::string& text);

}  // namespace fratmae::data
