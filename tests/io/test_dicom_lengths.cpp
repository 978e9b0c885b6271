// io/dicom_lengths.h: every real DICOM file passes; a declared length beyond the file or beyond
// its item, and sequences nested too deep, are refused naming the file and the element, before
// GDCM or DCMTK allocate; the fuzzer's input that made GDCM allocate 1.3 GB is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "io/dicom_lengths.h"
#include "io/dicom_series.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace fratmae;

namespace {
std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

std::string le16(uint32_t v) { return std::string{char(v & 0xff), char(v >> 8 & 0xff)}; }
std::string le32(uint32_t v) { return le16(v & 0xffff) + le16(v >> 16); }
std::string tag(uint16_t g, uint16_t e) { return le16(g) + le16(e); }
// Explicit VR little endian elements.
std::string short_el(uint16_t g, uint16_t e, const std::string& vr, const std::string& value) {
  return tag(g, e) + vr + le16(static_cast<uint32_t>(value.size())) + value;
}
std::string long_el(uint16_t g, uint16_t e, const std::string& vr, uint32_t len, const std::string& value) {
  return tag(g, e) + vr + std::string(2, '\0') + le32(len) + value;
}
const uint32_t kUndef = 0xFFFFFFFFu;
std::string item(const std::string& body) { return tag(0xFFFE, 0xE000) + le32(kUndef) + body + tag(0xFFFE, 0xE00D) + le32(0); }
std::string seq_end() { return tag(0xFFFE, 0xE0DD) + le32(0); }

// Preamble, DICM and a meta group naming explicit VR little endian, then `data_set`.
std::string dicom_file(const std::string& data_set) {
  const std::string syntax = short_el(0x0002, 0x0010, "UI", std::string("1.2.840.10008.1.2.1") + '\0');
  return std::string(128, '\0') + "DICM" + short_el(0x0002, 0x0000, "UL", le32(static_cast<uint32_t>(syntax.size()))) +
         syntax + data_set;
}

void expect_refused(const fs::path& file, const std::string& words) {
  try {
    io::check_dicom_lengths(file);
    ADD_FAILURE() << file << ": not refused";
  } catch (const FileError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(file.string()), std::string::npos) << m;
    EXPECT_NE(m.find(words), std::string::npos) << m;
  }
}
}  // namespace

TEST(DicomLengths, EveryRealFilePasses) {
  int files = 0;
  for (const fs::path& root : {test::data_dir() / "real", test::shared_data_dir(), test::test_path("fuzz_corpus") / "dicom_file"}) {
    if (!fs::is_directory(root)) continue;  // ../shared beside the checkout: absent on a bare clone
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file() || e.path().extension() != ".dcm" || e.path().filename().string().rfind("crash-", 0) == 0) continue;
      EXPECT_NO_THROW(io::check_dicom_lengths(e.path())) << e.path();
      ++files;
    }
  }
  EXPECT_GT(files, 300);  // the fixtures alone: 267 + 48 + 48 slices and their RTSTRUCTs
}

TEST(DicomLengths, NestedSequencesOfEveryKindPass) {
  test::TempDir t;
  const std::string inner = short_el(0x0008, 0x0100, "SH", "T-0000") + short_el(0x0008, 0x0104, "LO", "lesion");
  const std::string defined_item = tag(0xFFFE, 0xE000) + le32(static_cast<uint32_t>(inner.size())) + inner;
  const std::string ds = short_el(0x0008, 0x0060, "CS", "SEG ") +
                         long_el(0x0062, 0x0002, "SQ", kUndef, item(long_el(0x0008, 0x1115, "SQ", kUndef, item(inner) + seq_end())) + seq_end()) +
                         long_el(0x0040, 0xA730, "SQ", static_cast<uint32_t>(defined_item.size()), defined_item) +
                         long_el(0x7FE0, 0x0010, "OB", kUndef, tag(0xFFFE, 0xE000) + le32(0) + tag(0xFFFE, 0xE000) + le32(4) + "\x01\x02\x03\x04" + seq_end());
  write_bytes(t.path() / "ok.dcm", dicom_file(ds));
  EXPECT_NO_THROW(io::check_dicom_lengths(t.path() / "ok.dcm"));
  // An implicit VR data set under a meta group that says explicit (some writers do this; the
  // libraries detect it from the first element).
  const std::string implicit_ds = tag(0x0008, 0x0060) + le32(4) + "SEG " + tag(0x0062, 0x0002) + le32(kUndef) +
                                  tag(0xFFFE, 0xE000) + le32(kUndef) + tag(0x0008, 0x0100) + le32(6) + "T-0000" +
                                  tag(0xFFFE, 0xE00D) + le32(0) + seq_end();
  write_bytes(t.path() / "mislabelled.dcm", dicom_file(implicit_ds));
  EXPECT_NO_THROW(io::check_dicom_lengths(t.path() / "mislabelled.dcm"));
  std::string damaged = implicit_ds;
  damaged.replace(4, 4, le32(5000));  // (0008,0060)'s length
  write_bytes(t.path() / "mislabelled_damaged.dcm", dicom_file(damaged));
  expect_refused(t.path() / "mislabelled_damaged.dcm", "element (0008,0060) declares 5000 bytes");
}

TEST(DicomLengths, LengthsBeyondTheFileOrTheItemAreRefused) {
  test::TempDir t;
  // A real PET slice (implicit VR) whose pixel data (7fe0,0010) claims 1.3 GB.
  std::string pet = read_bytes(test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/PET/image/000000.dcm");
  const size_t px = pet.rfind(tag(0x7FE0, 0x0010));
  ASSERT_NE(px, std::string::npos);
  const bool explicit_vr = pet.compare(px + 4, 2, "OW") == 0 || pet.compare(px + 4, 2, "OB") == 0;
  pet.replace(px + (explicit_vr ? 8 : 4), 4, le32(1275101440));
  write_bytes(t.path() / "pixels.dcm", pet);
  expect_refused(t.path() / "pixels.dcm", "element (7fe0,0010) declares 1275101440 bytes");
  // A short element inside an item, longer than the item.
  const std::string body = short_el(0x0008, 0x0100, "SH", "T-0000");
  std::string bad_item = tag(0xFFFE, 0xE000) + le32(static_cast<uint32_t>(body.size())) + body;
  bad_item.replace(14, 2, le16(200));  // (0008,0100)'s length: 200 bytes in a 14-byte item
  write_bytes(t.path() / "item.dcm",
              dicom_file(long_el(0x0062, 0x0002, "SQ", static_cast<uint32_t>(bad_item.size()), bad_item) + std::string(300, ' ')));
  expect_refused(t.path() / "item.dcm", "element (0008,0100) declares 200 bytes");
  // An undefined-length sequence that never ends.
  write_bytes(t.path() / "open.dcm", dicom_file(long_el(0x0062, 0x0002, "SQ", kUndef, tag(0xFFFE, 0xE000) + le32(0))));
  expect_refused(t.path() / "open.dcm", "no end");
  // What GDCM stops the process on (an assertion) or allocates by guesswork for: a VR DICOM
  // does not define, a sequence delimitation where an element belongs, pixel data as a sequence.
  write_bytes(t.path() / "vr.dcm", dicom_file(short_el(0x0008, 0x0060, "CS", "PT") + short_el(0x0009, 0x4944, "CM", "abcd")));
  expect_refused(t.path() / "vr.dcm", "element (0009,4944) has a VR 'CM' that DICOM does not define");
  write_bytes(t.path() / "delim.dcm", dicom_file(short_el(0x0008, 0x0060, "CS", "PT") + seq_end()));
  expect_refused(t.path() / "delim.dcm", "(fffe,e0dd) at byte");
  write_bytes(t.path() / "pxsq.dcm", dicom_file(long_el(0x7FE0, 0x0010, "SQ", kUndef, seq_end())));
  expect_refused(t.path() / "pxsq.dcm", "pixel data (7fe0,0010) is written as a sequence");
  write_bytes(t.path() / "undef.dcm", dicom_file(long_el(0x0008, 0x1140, "OB", kUndef, seq_end())));
  expect_refused(t.path() / "undef.dcm", "element (0008,1140) of VR 'OB' has an undefined length");
  // 100 nested sequences.
  std::string deep = short_el(0x0008, 0x0100, "SH", "T-0000");
  for (int i = 0; i < 100; ++i) deep = long_el(0x0062, 0x0002, "SQ", kUndef, item(deep) + seq_end());
  write_bytes(t.path() / "deep.dcm", dicom_file(deep));
  expect_refused(t.path() / "deep.dcm", "nested deeper than 64");
}

// The input with which the fuzzer found GDCM allocating 1.3 GB for a 26 kB file (a SEG whose
// length field was damaged) is refused by the series scan, naming the file.
TEST(DicomLengths, TheFuzzerFindIsRefusedByTheSeriesScan) {
  const fs::path crash = test::test_path("fuzz_corpus") / "dicom_file" / "crash-oom-element-length.dcm";
  ASSERT_TRUE(fs::exists(crash));
  test::TempDir t;
  fs::copy_file(crash, t.path() / "x.dcm");
  try {
    (void)io::scan_dicom_folder(t.path());
    FAIL() << "not refused";
  } catch (const FileError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find((t.path() / "x.dcm").string()), std::string::npos) << m;
    EXPECT_NE(m.find("damaged DICOM file"), std::string::npos) << m;
  }
}
