// A CSV file as a table: header row, then records (RFC 4180 quoting, "" for a quote inside a
// quoted field, commas and newlines inside quotes kept). A UTF-8 byte-order mark and CRLF line
// ends are accepted, as spreadsheet programs write them. Field values are trimmed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fratmae::data {

struct CsvTable {
  std::filesystem::path path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each padded to the header's length
  std::vector<int> lines;                      // the line each row starts on (1 = the header)

  /// Index of the column named `name` (case-insensitive), or -1.
  int column(const std::string& name) const;
  /// The same, but throws FileError naming the file and the columns it has.
  int require(const std::string& name, const std::string& why) const;
};

/// Parses `text` (read from `path`, named in errors). Throws FileError for an empty file, an
/// unterminated quote, or a record with more fields than the header (naming its line).
CsvTable parse_csv(const std::string& text, const std::filesystem::path& path);

/// Reads and parses the file.
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace fratmae::data
