// CLIP's BPE tokenizer: see clip_tokenizer.h for the pipeline and the id layout.
//
// Deviations from openai/CLIP simple_tokenizer.py, all on unusual text:
// - No ftfy.fix_text: we do not repair mojibake, uncurl quotes, NFC-normalise, or fold
//   full-width / ligature forms. Text is taken as the UTF-8 it is.
// - html.unescape knows the named entities in kEntities only (others stay as written); numeric
//   references &#NNN; &#xHH; follow Python's rules in full.
// - Unicode classes come from the tables below (exact, per Unicode 14, inside the blocks they
//   cover; every code point outside them is "other", i.e. punctuation-like):
//     letters \p{L}: Latin (Basic, Latin-1, Extended-A/B, IPA, modifier letters, Extended
//       Additional), Greek, Cyrillic (+ Supplement), Armenian, Hebrew, Arabic, Hangul Jamo and
//       syllables, Hiragana, Katakana, CJK Unified Ideographs (+ Extension A), CJK
//       compatibility ideographs, half/full-width forms. Not covered, e.g.: Devanagari and other
//       Indic letters, Thai, Georgian, Ethiopic, Greek Extended, CJK Extension B+ (planes 1+).
//     numbers \p{N}: ASCII, Latin-1 superscripts and fractions, Arabic-Indic, Devanagari,
//       super/subscripts, number forms (fractions, Roman numerals), circled and parenthesised
//       numbers, CJK numerals, full-width digits.
//     lower-case (Python's str.lower): Latin except the rare U+0180..U+01C3 and U+0234..U+024F,
//       Greek (with final sigma: Python's rule, on approximate Cased / Case_Ignorable tables),
//       Cyrillic, Armenian, Latin Extended Additional (Vietnamese), Roman numerals, circled
//       letters, full-width Latin; İ becomes "i" + U+0307 as in Python.
//     whitespace: Python's str.isspace set.
// - Invalid UTF-8 input bytes are read as U+FFFD (Python strings cannot hold them).
#include "text/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <mutex>
#include <string_view>

#include "core/build_paths.h"
#include "core/error.h"

namespace fratmae::text {

namespace {

namespace fs = std::filesystem;

constexpr char32_t kReplacement = 0xFFFD;
constexpr int kNumMerges = 49152 - 256 - 2;  // lines 2..48895 of the merges file
static_assert(2 * 256 + kNumMerges == ClipTokenizer::kStartOfText, "CLIP's id layout");
constexpr size_t kMaxCachedWords = 1 << 16;  // the word cache is emptied when it reaches this

// ---- UTF-8 ----------------------------------------------------------------------------------

/// Code points of UTF-8 bytes; each maximal invalid subsequence becomes one U+FFFD (as Python's
/// bytes.decode(errors="replace")).
std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const unsigned b = byte(i);
    if (b < 0x80) {
      out += static_cast<char32_t>(b);
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;  // <= U+10FFFF
    }
    char32_t cp = len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    size_t k = 1;
    for (; len != 0 && k < len && i + k < s.size(); ++k) {
      const unsigned c = byte(i + k);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
      cp = (cp << 6) | (c & 0x3F);
    }
    out += (len != 0 && k == len) ? cp : kReplacement;
    i += k;  // k == 1 for a stray byte: skip just it
  }
  return out;
}

void utf8_append(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::string utf8_encode(const char32_t* begin, const char32_t* end) {
  std::string out;
  for (const char32_t* p = begin; p != end; ++p) utf8_append(*p, out);
  return out;
}

// ---- Unicode classes (see the coverage note at the top) --------------------------------------

struct Range {
  char32_t first, last;
};

constexpr Range kLetters[] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00AA, 0x00AA}, {0x00B5, 0x00B5}, {0x00BA, 0x00BA},
    {0x00C0, 0x00D6}, {0x00D8, 0x00F6}, {0x00F8, 0x02C1}, {0x02C6, 0x02D1}, {0x02E0, 0x02E4},
    {0x02EC, 0x02EC}, {0x02EE, 0x02EE}, {0x0370, 0x0374}, {0x0376, 0x0377}, {0x037A, 0x037D},
    {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1},
    {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x0559, 0x0559},
    {0x0560, 0x0588}, {0x05D0, 0x05EA}, {0x05EF, 0x05F2}, {0x0620, 0x064A}, {0x066E, 0x066F},
    {0x0671, 0x06D3}, {0x06D5, 0x06D5}, {0x06E5, 0x06E6}, {0x06EE, 0x06EF}, {0x06FA, 0x06FC},
    {0x06FF, 0x06FF}, {0x1100, 0x11FF}, {0x1E00, 0x1EFF}, {0x3005, 0x3006}, {0x3031, 0x3035},
    {0x303B, 0x303C}, {0x3041, 0x3096}, {0x309D, 0x309F}, {0x30A1, 0x30FA}, {0x30FC, 0x30FF},
    {0x3131, 0x318E}, {0x31F0, 0x31FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
    {0xF900, 0xFA6D}, {0xFA70, 0xFAD9}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE},
    {0xFFC2, 0xFFC7}, {0xFFCA, 0xFFCF}, {0xFFD2, 0xFFD7}, {0xFFDA, 0xFFDC},
};

constexpr Range kNumbers[] = {
    {0x0030, 0x0039}, {0x00B2, 0x00B3}, {0x00B9, 0x00B9}, {0x00BC, 0x00BE}, {0x0660, 0x0669},
    {0x06F0, 0x06F9}, {0x0966, 0x096F}, {0x2070, 0x2070}, {0x2074, 0x2079}, {0x2080, 0x2089},
    {0x2150, 0x2182}, {0x2185, 0x2189}, {0x2460, 0x249B}, {0x24EA, 0x24FF}, {0x2776, 0x2793},
    {0x3007, 0x3007}, {0x3021, 0x3029}, {0x3038, 0x303A}, {0x3192, 0x3195}, {0x3220, 0x3229},
    {0x3248, 0x324F}, {0x3251, 0x325F}, {0x3280, 0x3289}, {0x32B1, 0x32BF}, {0xFF10, 0xFF19},
};

/// Upper-case code points first..last, every `stride`-th, lower-case to c + delta.
struct CaseRun {
  char32_t first, last;
  int delta, stride;
};

constexpr CaseRun kLowerCase[] = {
    {0x0041, 0x005A, 32, 1},    {0x00C0, 0x00D6, 32, 1},   {0x00D8, 0x00DE, 32, 1},
    {0x0100, 0x012E, 1, 2},     {0x0132, 0x0136, 1, 2},    {0x0139, 0x0147, 1, 2},
    {0x014A, 0x0176, 1, 2},     {0x0178, 0x0178, -121, 1}, {0x0179, 0x017D, 1, 2},
    {0x01C4, 0x01C4, 2, 1},     {0x01C5, 0x01C5, 1, 1},    {0x01C7, 0x01C7, 2, 1},
    {0x01C8, 0x01C8, 1, 1},     {0x01CA, 0x01CA, 2, 1},    {0x01CB, 0x01DB, 1, 2},
    {0x01DE, 0x01EE, 1, 2},     {0x01F1, 0x01F1, 2, 1},    {0x01F2, 0x01F4, 1, 2},
    {0x01F6, 0x01F6, -97, 1},   {0x01F7, 0x01F7, -56, 1},  {0x01F8, 0x021E, 1, 2},
    {0x0220, 0x0220, -130, 1},  {0x0222, 0x0232, 1, 2},    {0x0370, 0x0372, 1, 2},
    {0x0376, 0x0376, 1, 1},     {0x037F, 0x037F, 116, 1},  {0x0386, 0x0386, 38, 1},
    {0x0388, 0x038A, 37, 1},    {0x038C, 0x038C, 64, 1},   {0x038E, 0x038F, 63, 1},
    {0x0391, 0x03A1, 32, 1},    {0x03A3, 0x03AB, 32, 1},   {0x03CF, 0x03CF, 8, 1},
    {0x03D8, 0x03EE, 1, 2},     {0x03F4, 0x03F4, -60, 1},  {0x03F7, 0x03F7, 1, 1},
    {0x03F9, 0x03F9, -7, 1},    {0x03FA, 0x03FA, 1, 1},    {0x03FD, 0x03FF, -130, 1},
    {0x0400, 0x040F, 80, 1},    {0x0410, 0x042F, 32, 1},   {0x0460, 0x0480, 1, 2},
    {0x048A, 0x04BE, 1, 2},     {0x04C0, 0x04C0, 15, 1},   {0x04C1, 0x04CD, 1, 2},
    {0x04D0, 0x052E, 1, 2},     {0x0531, 0x0556, 48, 1},   {0x1E00, 0x1E94, 1, 2},
    {0x1E9E, 0x1E9E, -7615, 1}, {0x1EA0, 0x1EFE, 1, 2},    {0x2160, 0x216F, 16, 1},
    {0x24B6, 0x24CF, 26, 1},    {0xFF21, 0xFF3A, 32, 1},
};

template <size_t N>
bool in_ranges(char32_t c, const Range (&table)[N]) {
  const Range* it =
      std::upper_bound(table, table + N, c, [](char32_t v, const Range& r) { return v < r.first; });
  return it != table && c <= (it - 1)->last;
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return in_ranges(c, kLetters);
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return in_ranges(c, kNumbers);
}

bool is_space(char32_t c) {  // Python's str.isspace()
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Unicode's Cased and Case_Ignorable properties, for the final-sigma rule: exact below U+0590
// and for U+1E00..U+1EFF, Roman numerals, circled and full-width Latin letters (cased); the
// common punctuation, accents, combining marks and format characters (case-ignorable).
bool is_cased(char32_t c) {
  if (c < 0x0590)
    return is_letter(c) && (c < 0x02B0 || c >= 0x0370) && c != 0x01BB &&
           !(c >= 0x01C0 && c <= 0x01C3) && c != 0x0294;
  return (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0x2160 && c <= 0x217F) || c == 0x2183 ||
         c == 0x2184 || (c >= 0x24B6 && c <= 0x24E9) || (c >= 0xFF21 && c <= 0xFF3A) ||
         (c >= 0xFF41 && c <= 0xFF5A);
}

bool is_case_ignorable(char32_t c) {
  if (c < 0x80) return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`';
  return c == 0xA8 || c == 0xAD || c == 0xAF || c == 0xB4 || c == 0xB7 || c == 0xB8 ||
         (c >= 0x02B0 && c <= 0x036F) || c == 0x0374 || c == 0x0375 || c == 0x037A || c == 0x0384 ||
         c == 0x0385 || c == 0x0387 || (c >= 0x0483 && c <= 0x0489) || c == 0x0559 || c == 0x055F ||
         (c >= 0x200B && c <= 0x200F) || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
}

/// Python lower-cases Σ at s[i] to final ς when, skipping case-ignorable characters, a cased
/// letter comes before it and none after.
bool is_final_sigma(const std::u32string& s, size_t i) {
  size_t before = i;
  while (before > 0 && is_case_ignorable(s[before - 1])) --before;
  if (before == 0 || !is_cased(s[before - 1])) return false;
  size_t after = i + 1;
  while (after < s.size() && is_case_ignorable(s[after])) ++after;
  return after == s.size() || !is_cased(s[after]);
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  for (const CaseRun& r : kLowerCase) {
    if (c < r.first) break;
    if (c <= r.last && (c - r.first) % r.stride == 0) return static_cast<char32_t>(c + r.delta);
  }
  return c;
}

/// Python's str.lower() on the covered scripts.
std::u32string lower(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == 0x0130) {  // İ -> i + combining dot above
      out += U"i\u0307";
    } else if (c == 0x03A3 && is_final_sigma(s, i)) {
      out += U'\u03C2';
    } else {
      out += to_lower(c);
    }
  }
  return out;
}

// ---- html.unescape -------------------------------------------------------------------------

struct Entity {
  const char* name;
  const char* text;
  bool legacy;  // also recognised without ';' (and as a prefix: "&ampx" -> "&x"), as in HTML5
};

constexpr Entity kEntities[] = {
    {"amp", "&", true},         {"lt", "<", true},           {"gt", ">", true},
    {"quot", "\"", true},       {"apos", "'", false},        {"nbsp", "\u00A0", true},
    {"AMP", "&", true},         {"LT", "<", true},           {"GT", ">", true},
    {"QUOT", "\"", true},       {"copy", "\u00A9", true},    {"reg", "\u00AE", true},
    {"deg", "\u00B0", true},    {"plusmn", "\u00B1", true},  {"micro", "\u00B5", true},
    {"times", "\u00D7", true},  {"divide", "\u00F7", true},  {"middot", "\u00B7", true},
    {"laquo", "\u00AB", true},  {"raquo", "\u00BB", true},   {"ndash", "\u2013", false},
    {"mdash", "\u2014", false}, {"hellip", "\u2026", false}, {"lsquo", "\u2018", false},
    {"rsquo", "\u2019", false}, {"ldquo", "\u201C", false},  {"rdquo", "\u201D", false},
    {"euro", "\u20AC", false},  {"le", "\u2264", false},     {"ge", "\u2265", false},
};

/// Windows-1252 meanings Python gives to &#128; .. &#159;.
constexpr char16_t kCp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/// Text of the numeric character reference `num`, as Python's html._replace_charref.
std::string charref_text(uint32_t num) {
  std::string out;
  if (num == 0) {
    utf8_append(kReplacement, out);
  } else if (num == 0x0D) {
    out = "\r";
  } else if (num >= 0x80 && num <= 0x9F) {
    utf8_append(kCp1252[num - 0x80], out);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    utf8_append(kReplacement, out);
  } else if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
             num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
    // invalid code points: dropped
  } else {
    utf8_append(num, out);
  }
  return out;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Reads a character reference "&#..." or "&name..." starting at s[amp] == '&'. On success,
/// sets `text` and returns the number of bytes it replaces; returns 0 when it is not one.
size_t read_reference(const std::string& s, size_t amp, std::string& text) {
  size_t i = amp + 1;
  if (i < s.size() && s[i] == '#') {
    const bool hex = i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X');
    size_t j = i + (hex ? 2 : 1);
    uint32_t num = 0;
    const size_t start = j;
    for (; j < s.size() && (hex ? is_hex(s[j]) : is_digit(s[j])); ++j) {
      const uint32_t d = is_digit(s[j]) ? s[j] - '0' : (std::tolower(s[j]) - 'a' + 10);
      num = std::min<uint32_t>(num * (hex ? 16 : 10) + d, 0x110000);  // saturate: > U+10FFFF
    }
    if (j == start) return 0;
    if (j < s.size() && s[j] == ';') ++j;
    text = charref_text(num);
    return j - amp;
  }
  // A name: up to 32 characters other than \t \n \f space < & # ; (counted here in bytes; the
  // known names are ASCII, so the result is the same).
  size_t end = i;
  while (end < s.size() && end - i < 32 &&
         std::string_view("\t\n\f <&#;").find(s[end]) == std::string_view::npos)
    ++end;
  const std::string_view name(s.data() + i, end - i);
  if (name.empty()) return 0;
  if (end < s.size() && s[end] == ';') {
    for (const Entity& e : kEntities) {
      if (name == e.name) {
        text = e.text;
        return end + 1 - amp;
      }
    }
  }
  const Entity* best = nullptr;  // the longest legacy name that starts the run
  for (const Entity& e : kEntities) {
    const std::string_view n(e.name);
    if (e.legacy && name.substr(0, n.size()) == n && (!best || n.size() > std::strlen(best->name)))
      best = &e;
  }
  if (!best) return 0;
  text = best->text;
  return 1 + std::strlen(best->name);
}

/// Python's html.unescape for the references above.
std::string html_unescape(const std::string& s) {
  if (s.find('&') == std::string::npos) return s;
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    std::string text;
    const size_t used = s[i] == '&' ? read_reference(s, i, text) : 0;
    if (used != 0) {
      out += text;
      i += used;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// ---- clean-up and pre-tokenisation ------------------------------------------------------------

/// CLIP's whitespace_clean(basic_clean(text)).lower(), without ftfy.
std::u32string clean(const std::string& text) {
  const std::u32string in = utf8_decode(html_unescape(html_unescape(text)));
  std::u32string collapsed;
  collapsed.reserve(in.size());
  bool pending_space = false;
  for (const char32_t c : in) {
    if (is_space(c)) {
      pending_space = !collapsed.empty();
    } else {
      if (pending_space) collapsed += U' ';
      pending_space = false;
      collapsed += c;
    }
  }
  return lower(collapsed);
}

bool starts_with(const std::u32string& s, size_t i, std::u32string_view prefix) {
  return s.compare(i, prefix.size(), prefix.data(), prefix.size()) == 0;
}

/// Length of the pre-token at s[i] per CLIP's pattern (first alternative that matches, greedy);
/// 0 when s[i] is whitespace, which the pattern skips.
size_t pretoken_length(const std::u32string& s, size_t i) {
  for (const std::u32string_view special : {U"<|startoftext|>", U"<|endoftext|>"})
    if (starts_with(s, i, special)) return special.size();
  if (s[i] == U'\'') {
    for (const std::u32string_view c : {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"})
      if (starts_with(s, i, c)) return c.size();
  }
  size_t j = i;
  if (is_letter(s[i])) {
    while (j < s.size() && is_letter(s[j])) ++j;
  } else if (is_number(s[i])) {
    j = i + 1;
  } else {
    while (j < s.size() && !is_space(s[j]) && !is_letter(s[j]) && !is_number(s[j])) ++j;
  }
  return j - i;
}

// ---- vocabulary file -------------------------------------------------------------------------

std::string read_gzip(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw FileError(path, "CLIP vocabulary file not found");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw FileError(path, "cannot open the CLIP vocabulary file");
  std::string data;
  std::array<char, 1 << 16> buf;
  int n = 0;
  while ((n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    data.append(buf.data(), n);
  int err = Z_OK;
  const std::string message = n < 0 ? gzerror(f, &err) : "";
  const int closed = gzclose(f);
  if (n < 0 || closed != Z_OK)
    throw FileError(
        path, "corrupt gzip data in the CLIP vocabulary" + (message.empty() ? "" : ": " + message));
  return data;
}

/// GPT-2's bytes_to_unicode: the printable bytes keep their code point, the other 68 get
/// 256, 257, ... in byte order. Symbol id i (0..255) is the i-th byte of that order.
std::vector<std::pair<uint8_t, char32_t>> byte_symbols() {
  std::vector<std::pair<uint8_t, char32_t>> out;
  const auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  };
  for (int b = 0; b < 256; ++b)
    if (printable(b)) out.emplace_back(static_cast<uint8_t>(b), static_cast<char32_t>(b));
  char32_t next = 256;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) out.emplace_back(static_cast<uint8_t>(b), next++);
  return out;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

struct ClipTokenizer::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

fs::path default_clip_vocab_path() {
  return build_assets_dir() / "clip" / "bpe_simple_vocab_16e6.txt.gz";
}

ClipTokenizer::ClipTokenizer(const fs::path& vocab_gz) : cache_(std::make_unique<Cache>()) {
  const std::string data = read_gzip(vocab_gz);

  // Symbol strings (in the file's byte-level alphabet) -> id, built up as CLIP's encoder dict.
  std::unordered_map<std::string, int32_t> ids;
  std::vector<std::string> symbols;
  const auto add = [&](std::string symbol) {
    ids[symbol] = static_cast<int32_t>(symbols.size());  // a repeated string keeps the last id
    symbols.push_back(std::move(symbol));
  };
  byte_id_.assign(256, 0);
  const auto bytes = byte_symbols();
  for (int with_end = 0; with_end < 2; ++with_end) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      std::string symbol;
      utf8_append(bytes[i].second, symbol);
      add(with_end ? symbol + "</w>" : symbol);
      byte_id_[bytes[i].first] = static_cast<int32_t>(i);
    }
  }

  // Merges: lines 2..48895 ("left right").
  std::vector<std::pair<std::string, std::string>> merge_pairs;
  size_t pos = data.find('\n');
  if (pos == std::string::npos || data.substr(0, pos).find("#version") == std::string::npos)
    throw FileError(vocab_gz, "not a CLIP BPE merges list (no version header on line 1)");
  for (int line = 2; line < 2 + kNumMerges; ++line) {
    const size_t begin = pos + 1;
    if (begin >= data.size())
      throw FileError(vocab_gz, "CLIP BPE merges list ends before line " + std::to_string(line) +
                                    "; expected " + std::to_string(kNumMerges) + " merges");
    pos = std::min(data.find('\n', begin), data.size());
    const std::string text = data.substr(begin, pos - begin);
    const size_t space = text.find(' ');
    if (space == std::string::npos || space == 0 || text.find(' ', space + 1) != std::string::npos)
      throw FileError(vocab_gz,
                      "line " + std::to_string(line) + " is not a BPE merge \"left right\"");
    merge_pairs.emplace_back(text.substr(0, space), text.substr(space + 1));
    add(merge_pairs.back().first + merge_pairs.back().second);
  }
  add("<|startoftext|>");
  add("<|endoftext|>");

  for (int32_t rank = 0; rank < kNumMerges; ++rank) {
    const auto& [left, right] = merge_pairs[rank];
    const auto l = ids.find(left), r = ids.find(right);
    if (l == ids.end() || r == ids.end())
      throw FileError(vocab_gz, "line " + std::to_string(rank + 2) + " merges an unknown symbol");
    merges_[pair_key(l->second, r->second)] = Merge{rank, ids.at(left + right)};
  }

  // Raw bytes per id, for decode: map each symbol character back to its byte.
  std::unordered_map<char32_t, uint8_t> byte_of;
  for (const auto& [byte, symbol] : bytes) byte_of[symbol] = byte;
  token_bytes_.reserve(symbols.size());
  for (size_t id = 0; id < symbols.size(); ++id) {  // the special tokens are printable ASCII
    std::string s = symbols[id];
    const bool word_end = s.size() >= 4 && s.compare(s.size() - 4, 4, "</w>") == 0;
    if (word_end) s.resize(s.size() - 4);
    std::string raw;
    for (const char32_t c : utf8_decode(s)) {
      const auto it = byte_of.find(c);
      if (it == byte_of.end())
        throw FileError(vocab_gz, "symbol \"" + s + "\" is outside CLIP's byte alphabet");
      raw += static_cast<char>(it->second);
    }
    token_bytes_.push_back(word_end ? raw + ' ' : raw);
  }
}

ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;

std::vector<int32_t> ClipTokenizer::bpe(const std::string& word) const {
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  for (const char c : word) symbols.push_back(byte_id_[static_cast<unsigned char>(c)]);
  symbols.back() += 256;  // the same byte with "</w>"

  while (symbols.size() > 1) {
    // The adjacent pair with the lowest merge rank.
    const Merge* best = nullptr;
    uint64_t best_key = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const uint64_t key = pair_key(symbols[i], symbols[i + 1]);
      const auto it = merges_.find(key);
      if (it != merges_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        best_key = key;
      }
    }
    if (!best) break;
    // Merge every occurrence of that pair, left to right.
    std::vector<int32_t> merged;
    merged.reserve(symbols.size());
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && pair_key(symbols[i], symbols[i + 1]) == best_key) {
        merged.push_back(best->result);
        ++i;
      } else {
        merged.push_back(symbols[i]);
      }
    }
    symbols.swap(merged);
  }
  return symbols;
}

void ClipTokenizer::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  if (word == "<|startoftext|>") return out.push_back(kStartOfText);
  if (word == "<|endoftext|>") return out.push_back(kEndOfText);
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(word);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
  cache_->words.emplace(word, std::move(ids));
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  const std::u32string s = clean(text);
  std::vector<int64_t> out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = pretoken_length(s, i);
    if (n == 0) {
      ++i;
      continue;
    }
    encode_word(utf8_encode(s.data() + i, s.data() + i + n), out);
    i += n;
  }
  return out;
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
  std::vector<int64_t> out{kStartOfText};
  const std::vector<int64_t> ids = encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
  out.push_back(kEndOfText);
  return out;
}

std::vector<int64_t> ClipTokenizer::tokenize_padded(const std::string& text, int context,
                                                    bool truncate) const {
  if (context < 2)
    throw Error("CLIP context length must be at least 2 (start and end tokens), got " +
                std::to_string(context));
  std::vector<int64_t> ids = tokenize(text);
  if (ids.size() > static_cast<size_t>(context)) {
    if (!truncate) {
      size_t cut = std::min<size_t>(text.size(), 60);
      while (cut < text.size() && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
      throw Error("text is " + std::to_string(ids.size()) +
                  " CLIP tokens with start and end, more than the context length " +
                  std::to_string(context) + " (shorten it or allow truncation): \"" +
                  text.substr(0, cut) + (cut < text.size() ? "...\"" : "\""));
    }
    ids.resize(context);
    ids.back() = kEndOfText;
  }
  ids.resize(context, 0);
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string raw;
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("CLIP token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(vocab_size()) + ")");
    raw += token_bytes_[id];
  }
  std::string out;  // re-encode, replacing invalid UTF-8 with U+FFFD
  for (const char32_t c : utf8_decode(raw)) utf8_append(c, out);
  return out;
}

}  // namespace fratmae::text
