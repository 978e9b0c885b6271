// Small string helpers shared by the DICOM and metadata code.
#pragma once

#include <cctype>
#include <string>

namespace fratmae {

/// Without leading/trailing whitespace and NUL padding (DICOM pads values to even length).
inline std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (std::isspace(static_cast<unsigned char>(s[b])) || s[b] == '\0')) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(s[e - 1])) || s[e - 1] == '\0')) --e;
  return s.substr(b, e - b);
}

/// ASCII upper case.
inline std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace fratmae
