#include "data/csv_table.h"

#include <cctype>

#include "core/atomic_output.h"
#include "core/error.h"

namespace fratmae::data {

namespace {
std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

int CsvTable::column(const std::string& name) const {
  const std::string want = lower(name);
  for (size_t i = 0; i < header.size(); ++i)
    if (lower(header[i]) == want) return static_cast<int>(i);
  return -1;
}

int CsvTable::require(const std::string& name, const std::string& why) const {
  const int c = column(name);
  if (c >= 0) return c;
  std::string have;
  for (const std::string& h : header) have += (have.empty() ? "" : ", ") + h;
  throw FileError(path, "has no column '" + name + "' (" + why + "); its columns are: " + have);
}

CsvTable parse_csv(const std::string& text_in, const std::filesystem::path& path) {
  CsvTable t;
  t.path = path;
  std::string_view text(text_in);
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  std::vector<std::vector<std::string>> records;
  std::vector<int> starts;
  std::vector<std::string> rec;
  std::string cur;
  bool quoted = false, any = false;  // any: the record has content (a field or a separator)
  int line = 1, start = 1;
  auto end_field = [&] {
    rec.push_back(trim(cur));
    cur.clear();
  };
  auto end_record = [&] {
    if (any) {
      end_field();
      records.push_back(std::move(rec));
      starts.push_back(start);
    }
    rec.clear();
    cur.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        if (c != '\r') cur += c;
      }
      continue;
    }
    if (c == '\n') {
      end_record();
      start = ++line;
    } else if (c == '\r') {
      // CRLF: the \n ends the record.
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      end_field();
      any = true;
    } else {
      cur += c;
      if (!std::isspace(static_cast<unsigned char>(c))) any = true;
    }
  }
  if (quoted) throw FileError(path, "line " + std::to_string(start) + ": a quoted field is not closed");
  end_record();
  if (records.empty()) throw FileError(path, "is empty; a CSV needs a header row");
  t.header = std::move(records.front());
  for (size_t r = 1; r < records.size(); ++r) {
    std::vector<std::string>& f = records[r];
    if (f.size() > t.header.size())
      throw FileError(path, "line " + std::to_string(starts[r]) + " has " + std::to_string(f.size()) +
                                " fields, the header " + std::to_string(t.header.size()));
    f.resize(t.header.size());
    t.rows.push_back(std::move(f));
    t.lines.push_back(starts[r]);
  }
  return t;
}

CsvTable read_csv(const std::filesystem::path& path) { return parse_csv(read_file(path), path); }

}  // namespace fratmae::data
