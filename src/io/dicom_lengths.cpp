#include "io/dicom_lengths.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"

namespace fratmae::io {

namespace {
namespace fs = std::filesystem;

constexpr uint32_t kUndefined = 0xFFFFFFFFu;
constexpr int kMaxDepth = 64;

// VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2).
bool is_long_vr(const std::string& vr) {
  static const std::array<const char*, 13> long_vrs{"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                                    "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : long_vrs)
    if (vr == v) return true;
  return false;
}

// The VRs of PS3.5 6.2.
bool is_vr(const std::string& vr) {
  static const std::array<const char*, 34> vrs{"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
                                               "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                                               "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
  for (const char* v : vrs)
    if (vr == v) return true;
  return false;
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += c >= 32 && c < 127 ? std::string(1, static_cast<char>(c)) : "?";
  return out;
}

std::string tag_text(uint16_t g, uint16_t e) {
  char b[16];
  std::snprintf(b, sizeof b, "(%04x,%04x)", g, e);
  return b;
}

// Reads element headers from a file, skipping values by seeking.
class Walker {
 public:
  Walker(const fs::path& file, uint64_t size) : file_(file), in_(file, std::ios::binary), size_(size) {}

  bool good() const { return static_cast<bool>(in_); }

  // The elements of a data set from `pos` to `end` (an item's end, or the file's); with
  // `until_item_end` the set ends at an item delimitation (FFFE,E00D) instead. Returns the
  // position after the set.
  uint64_t data_set(uint64_t pos, uint64_t end, bool explicit_vr, bool until_item_end, int depth) {
    if (depth > kMaxDepth) fail("sequences nested deeper than " + std::to_string(kMaxDepth));
    while (pos + 8 <= end) {
      uint8_t h[12];
      read(pos, h, 8);
      const uint16_t g = u16(h), e = u16(h + 2);
      if (g == 0xFFFE) {
        if (e == 0xE00D && until_item_end) return pos + 8;  // the end of an undefined-length item
        // GDCM stops the process (an assertion) on a sequence delimitation where an element
        // belongs once it reads a file as "buggy" (after a non-standard VR): refuse it here.
        if (e == 0xE0DD || e == 0x0000)
          fail(tag_text(g, e) + " at byte " + std::to_string(pos) + " where a data element belongs");
        pos += 8;  // a stray item delimiter, which some writers leave and the libraries skip
        continue;
      }
      uint64_t header = 8;
      uint32_t len = u32(h + 4);
      bool sequence = false, nested_explicit = explicit_vr;
      std::string vr;
      if (explicit_vr) {
        vr.assign(reinterpret_cast<const char*>(h + 4), 2);
        nested_explicit = vr != "UN";  // an undefined-length UN holds implicit VR items
        // A VR DICOM does not define: the libraries guess its length field differently (GDCM as 2
        // bytes in one reader and 4 in another, DCMTK as 4), and on those guesses GDCM allocated
        // 1.3 GB for a 28 kB file and stopped the process on an assertion (found by fuzzing).
        if (!is_vr(vr)) fail("element " + tag_text(g, e) + " has a VR '" + printable(vr) + "' that DICOM does not define");
        if (is_long_vr(vr)) {
          if (pos + 12 > end) fail("element " + tag_text(g, e) + " is cut short");
          read(pos + 8, h + 8, 4);
          len = u32(h + 8), header = 12;
        } else {
          len = u16(h + 6);
        }
        sequence = vr == "SQ";
        // Combinations GDCM asserts on (a process abort): pixel data as a sequence, an undefined
        // length other than a sequence's, UN's or encapsulated pixel data's (OB, OW, UN).
        if (is_pixel_data(g, e) && sequence && len != 0) fail("pixel data " + tag_text(g, e) + " is written as a sequence");
        if (len == kUndefined && !sequence && vr != "UN" && !(is_pixel_data(g, e) && (vr == "OB" || vr == "OW")))
          fail("element " + tag_text(g, e) + " of VR '" + printable(vr) + "' has an undefined length");
      }
      pos += header;
      if (len == kUndefined) {
        // A sequence, or encapsulated pixel data (OB), or UN: items up to (FFFE,E0DD).
        pos = items_undefined(pos, end, nested_explicit, depth + 1, g, e);
        continue;
      }
      if (len > end - pos)
        fail("element " + tag_text(g, e) + " declares " + std::to_string(len) + " bytes where " +
             std::to_string(end - pos) + (end == size_ ? " are left in the file" : " are left in its item") +
             " (truncated or damaged)");
      if (sequence || (!explicit_vr && may_be_sequence(g) && looks_like_items(pos, len)))
        items_defined(pos, pos + len, explicit_vr, depth + 1);
      pos += len;
    }
    if (until_item_end) fail("an item has no end (FFFE,E00D)");
    return end;
  }

 private:
  static uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
  static uint32_t u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
  }
  static bool is_pixel_data(uint16_t g, uint16_t e) { return g == 0x7FE0 && e == 0x0010; }

  [[noreturn]] void fail(const std::string& what) const { throw FileError(file_, "damaged DICOM file: " + what); }

  void read(uint64_t pos, uint8_t* out, size_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(pos));
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    if (in_.gcount() != static_cast<std::streamsize>(n)) fail("cannot read byte " + std::to_string(pos));
  }

  // Implicit VR gives no VR: a defined-length value is walked as items when it starts with an
  // item tag (a sequence; no text value can); any other value is skipped, and pixel and overlay
  // data, whose first bytes are any numbers, always are.
  static bool may_be_sequence(uint16_t g) { return g != 0x7FE0 && (g & 0xFF00) != 0x6000; }
  bool looks_like_items(uint64_t pos, uint32_t len) {
    if (len < 8) return false;
    uint8_t h[4];
    read(pos, h, 4);
    return u16(h) == 0xFFFE && u16(h + 2) == 0xE000;
  }

  // Items of a defined-length sequence filling [pos, end).
  void items_defined(uint64_t pos, uint64_t end, bool explicit_vr, int depth) {
    while (pos + 8 <= end) {
      uint8_t h[8];
      read(pos, h, 8);
      const uint16_t g = u16(h), e = u16(h + 2);
      const uint32_t len = u32(h + 4);
      if (g == 0xFFFE && e == 0xE0DD) return;  // a delimiter after the items: some writers add one
      if (g != 0xFFFE || e != 0xE000) fail("a sequence holds " + tag_text(g, e) + " where an item should be");
      pos += 8;
      if (len == kUndefined) {
        pos = data_set(pos, end, explicit_vr, true, depth);
      } else {
        if (len > end - pos)
          fail("an item declares " + std::to_string(len) + " bytes where its sequence has " + std::to_string(end - pos));
        data_set(pos, pos + len, explicit_vr, false, depth);
        pos += len;
      }
    }
  }

  // Items up to a sequence delimitation (FFFE,E0DD), their data sets in explicit or implicit VR;
  // the items of encapsulated pixel data are fragments of compressed bytes, not data sets.
  uint64_t items_undefined(uint64_t pos, uint64_t end, bool explicit_vr, int depth, uint16_t g0, uint16_t e0) {
    if (depth > kMaxDepth) fail("sequences nested deeper than " + std::to_string(kMaxDepth));
    const bool fragments = is_pixel_data(g0, e0);
    while (pos + 8 <= end) {
      uint8_t h[8];
      read(pos, h, 8);
      const uint16_t g = u16(h), e = u16(h + 2);
      const uint32_t len = u32(h + 4);
      pos += 8;
      if (g == 0xFFFE && e == 0xE0DD) return pos;
      if (g != 0xFFFE || e != 0xE000)
        fail("element " + tag_text(g0, e0) + " of undefined length holds " + tag_text(g, e) + " where an item should be");
      if (len == kUndefined) {
        if (fragments) fail("a pixel data fragment of undefined length");
        pos = data_set(pos, end, explicit_vr, true, depth);
        continue;
      }
      if (len > end - pos)
        fail("an item of " + tag_text(g0, e0) + " declares " + std::to_string(len) + " bytes where " +
             std::to_string(end - pos) + " are left");
      if (!fragments) data_set(pos, pos + len, explicit_vr, false, depth);
      pos += len;
    }
    fail("element " + tag_text(g0, e0) + " of undefined length has no end (FFFE,E0DD)");
  }

  fs::path file_;
  std::ifstream in_;
  uint64_t size_;
};
}  // namespace

void check_dicom_lengths(const fs::path& file) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) return;  // the reader reports it
  std::ifstream in(file, std::ios::binary);
  uint8_t head[132] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const std::streamsize got = in.gcount();
  in.close();
  Walker w(file, size);
  if (!w.good()) return;
  if (got < 132 || std::string(reinterpret_cast<char*>(head) + 128, 4) != "DICM") {
    // A data set without preamble and meta group (old ACR-NEMA style, still written): walked
    // when it starts like one (group 0008, little endian), explicit VR when a VR follows.
    if (got < 8 || head[0] != 0x08 || head[1] != 0x00) return;
    const bool explicit_vr = head[4] >= 'A' && head[4] <= 'Z' && head[5] >= 'A' && head[5] <= 'Z';
    w.data_set(0, size, explicit_vr, false, 0);
    return;
  }
  // File Meta Information: explicit VR little endian, group 0002; find the transfer syntax.
  uint64_t pos = 132;
  std::string syntax;
  {
    std::ifstream f(file, std::ios::binary);
    while (pos + 8 <= size) {
      uint8_t h[12];
      f.seekg(static_cast<std::streamoff>(pos));
      f.read(reinterpret_cast<char*>(h), 8);
      if (f.gcount() != 8) return;
      const uint16_t g = static_cast<uint16_t>(h[0] | h[1] << 8), e = static_cast<uint16_t>(h[2] | h[3] << 8);
      if (g != 0x0002) break;
      const std::string vr(reinterpret_cast<char*>(h + 4), 2);
      if (!is_vr(vr))
        throw FileError(file, "damaged DICOM file: meta element " + tag_text(g, e) + " has a VR '" + printable(vr) +
                                  "' that DICOM does not define");
      uint64_t len = static_cast<uint16_t>(h[6] | h[7] << 8), header = 8;
      if (is_long_vr(vr)) {
        f.read(reinterpret_cast<char*>(h + 8), 4);
        if (f.gcount() != 4) return;
        len = static_cast<uint32_t>(h[8]) | static_cast<uint32_t>(h[9]) << 8 | static_cast<uint32_t>(h[10]) << 16 |
              static_cast<uint32_t>(h[11]) << 24;
        header = 12;
      }
      if (len > size - pos - header)
        throw FileError(file, "damaged DICOM file: meta element " + tag_text(g, e) + " declares " +
                                  std::to_string(len) + " bytes where " + std::to_string(size - pos - header) +
                                  " are left in the file");
      if (e == 0x0010 && len < 256) {
        syntax.resize(len);
        f.read(syntax.data(), static_cast<std::streamsize>(len));
        while (!syntax.empty() && (syntax.back() == '\0' || syntax.back() == ' ')) syntax.pop_back();
      }
      pos += header + len;
    }
  }
  bool explicit_vr = true;
  if (syntax == "1.2.840.10008.1.2") explicit_vr = false;                  // implicit VR little endian
  else if (syntax == "1.2.840.10008.1.2.2" || syntax == "1.2.840.10008.1.2.1.99") return;  // big endian, deflated
  if (explicit_vr && pos + 6 <= size) {
    // Some writers label an implicit VR data set explicit; the libraries detect it from the
    // first element, and so does this check.
    std::ifstream f(file, std::ios::binary);
    char h[6] = {};
    f.seekg(static_cast<std::streamoff>(pos));
    f.read(h, 6);
    if (f.gcount() == 6 && !is_vr(std::string(h + 4, 2))) explicit_vr = false;
  }
  w.data_set(pos, size, explicit_vr, false, 0);
}

}  // namespace fratmae::io
