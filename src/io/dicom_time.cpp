#include "io/dicom_time.h"

#include <cctype>
#include <cstdint>

#include "core/error.h"
#include "core/text_util.h"

namespace fratmae::dicom {

namespace {
[[noreturn]] void bad(const std::string& tag, const std::string& value, const char* what) {
  throw Error("DICOM " + tag + " has an invalid value '" + value + "' (" + what + ")");
}

int digits(const std::string& s, size_t pos, size_t n, const std::string& tag,
           const std::string& value) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i])))
      bad(tag, value, "expected digits");
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

double date_seconds(const std::string& s, const std::string& tag, const std::string& value) {
  if (s.size() != 8) bad(tag, value, "expected YYYYMMDD");
  const int y = digits(s, 0, 4, tag, value), m = digits(s, 4, 2, tag, value),
            d = digits(s, 6, 2, tag, value);
  if (m < 1 || m > 12 || d < 1 || d > 31) bad(tag, value, "month or day out of range");
  return static_cast<double>(days_from_civil(y, m, d)) * 86400.0;
}

double time_seconds(std::string s, const std::string& tag, const std::string& value) {
  // Old ACR-NEMA style "HH:MM:SS" is still written by some software.
  std::string compact;
  for (char c : s)
    if (c != ':') compact += c;
  s = compact;
  if (s.size() < 2) bad(tag, value, "expected HHMMSS.FFFFFF");
  const int hh = digits(s, 0, 2, tag, value);
  int mm = 0, ss = 0;
  double frac = 0;
  size_t pos = 2;
  if (s.size() >= 4 && s[2] != '.') {
    mm = digits(s, 2, 2, tag, value);
    pos = 4;
    if (s.size() >= 6 && s[4] != '.') {
      ss = digits(s, 4, 2, tag, value);
      pos = 6;
    }
  }
  if (pos < s.size()) {
    if (s[pos] != '.') bad(tag, value, "unexpected characters");
    double scale = 0.1;
    for (size_t i = pos + 1; i < s.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) bad(tag, value, "bad fraction");
      frac += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (hh > 23 || mm > 59 || ss > 60) bad(tag, value, "hour, minute or second out of range");
  return hh * 3600.0 + mm * 60.0 + ss + frac;
}
}  // namespace

double parse_da(const std::string& value, const std::string& tag) {
  return date_seconds(trim(value), tag, value);
}

double parse_tm(const std::string& value, const std::string& tag) {
  return time_seconds(trim(value), tag, value);
}

double parse_dt(const std::string& value, const std::string& tag) {
  std::string s = trim(value);
  const size_t tz = s.find_first_of("+-", 8);  // offsets are ignored (one clock per study)
  if (tz != std::string::npos) s = s.substr(0, tz);
  if (s.size() < 8) bad(tag, value, "expected YYYYMMDDHHMMSS.FFFFFF");
  double t = date_seconds(s.substr(0, 8), tag, value);
  if (s.size() > 8) t += time_seconds(s.substr(8), tag, value);
  return t;
}

}  // namespace fratmae::dicom
