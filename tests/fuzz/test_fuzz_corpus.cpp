// Every fuzz target over its corpus (tests/fuzz/corpus/<target>/): the seeds and each input a
// fuzzer once broke. A target that crashes on one of them fails this test's process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_targets.h"
#include "test_util.h"

namespace fs = std::filesystem;

TEST(FuzzCorpus, EveryTargetReadsItsCorpus) {
  const fs::path root = fratmae::test::test_path("fuzz_corpus");
  ASSERT_TRUE(fs::is_directory(root)) << root;
  for (const fratmae::fuzz::NamedTarget& t : fratmae::fuzz::targets()) {
    SCOPED_TRACE(t.name);
    const fs::path dir = root / t.name;
    ASSERT_TRUE(fs::is_directory(dir)) << dir << ": every target needs a seed corpus";
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++files;
    }
    EXPECT_GT(files, 0) << dir;
  }
}
