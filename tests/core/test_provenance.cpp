// Tests of src/core/provenance: SHA-256 against the published FIPS 180-2 vectors, the record's
// fields, inputs as files and folders, the command line as a shell reads it back.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/provenance.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

TEST(Provenance, Sha256MatchesThePublishedVectors) {
  test::TempDir tmp;
  std::ofstream(tmp / "abc", std::ios::binary) << "abc";
  std::ofstream(tmp / "empty", std::ios::binary);
  std::ofstream(tmp / "two", std::ios::binary) << "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  // FIPS 180-2, appendix B.1 and B.2; and the hash of no bytes.
  EXPECT_EQ(sha256_file(tmp / "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_file(tmp / "two"), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_file(tmp / "empty"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // A million 'a' (B.3): more than one read buffer.
  std::ofstream(tmp / "million", std::ios::binary) << std::string(1000000, 'a');
  EXPECT_EQ(sha256_file(tmp / "million"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_THROW(sha256_file(tmp / "missing"), FileError);
}

TEST(Provenance, RecordsVersionTimeAndTheCommandLine) {
  const char* argv[] = {"fratmae", "predict", "--out", "my results", "--note", "it's"};
  set_command_line(6, const_cast<char**>(argv));
  const nlohmann::json p = provenance();
  EXPECT_FALSE(p["fratmae_version"].get<std::string>().empty());
  EXPECT_FALSE(p["libtorch_version"].get<std::string>().empty());
  const std::string t = p["created"];
  ASSERT_EQ(t.size(), 20u);
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
  EXPECT_EQ(p["command"], "fratmae predict --out 'my results' --note 'it'\\''s'");
}

TEST(Provenance, InputsAsFilesAndFolders) {
  test::TempDir tmp;
  std::ofstream(tmp / "abc", std::ios::binary) << "abc";
  fs::create_directories(tmp / "dir");
  std::ofstream(tmp / "dir/a") << "1";
  std::ofstream(tmp / "dir/b") << "2";
  const nlohmann::json f = input_record(tmp / "abc"), d = input_record(tmp / "dir");
  EXPECT_EQ(f["bytes"], 3);
  EXPECT_EQ(f["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(fs::path(f["path"].get<std::string>()).is_absolute());
  EXPECT_EQ(d["files"], 2);
  EXPECT_FALSE(d.contains("sha256"));
}
