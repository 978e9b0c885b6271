#include <gtest/gtest.h>

#include "core/atomic_output.h"
#include "core/error.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

TEST(StagedOutputs, CommitMovesEverythingIntoPlace) {
  test::TempDir tmp;
  const fs::path out = tmp / "out";
  {
    StagedOutputs s(out);
    s.write_text("a.json", "{}");
    s.write_text("b.txt", "b");
    EXPECT_FALSE(fs::exists(out / "a.json"));
    s.commit();
  }
  EXPECT_EQ(read_file(out / "a.json"), "{}");
  EXPECT_EQ(read_file(out / "b.txt"), "b");
  EXPECT_EQ(test::count_entries(out), 2u);
}

TEST(StagedOutputs, FailureLeavesNothing) {
  test::TempDir tmp;
  const fs::path out = tmp / "out";
  try {
    StagedOutputs s(out);
    s.write_text("a.json", "{}");
    throw Error("something failed half-way");
  } catch (const Error&) {
  }
  EXPECT_FALSE(fs::exists(out)) << "the folder this command created is removed again";
  // In an existing folder only the staged files go.
  fs::create_directories(out);
  write_file_atomic(out / "keep.txt", "x");
  {
    StagedOutputs s(out);
    s.write_text("a.json", "{}");
  }
  EXPECT_EQ(test::count_entries(out), 1u);
}

TEST(StagedOutputs, RefusesToOverwriteWithoutPermissionAndNeverTouchesInputs) {
  test::TempDir tmp;
  write_file_atomic(tmp / "a.json", "old");
  {
    StagedOutputs s(tmp.path());
    EXPECT_THROW(s.stage("a.json"), FileError);
  }
  {
    StagedOutputs s(tmp.path(), /*overwrite=*/true);
    s.protect_input(tmp / "a.json");
    EXPECT_THROW(s.stage("a.json"), FileError);
  }
  {
    StagedOutputs s(tmp.path(), /*overwrite=*/true);
    s.write_text("a.json", "new");
    s.commit();
  }
  EXPECT_EQ(read_file(tmp / "a.json"), "new");
}

TEST(AtomicFile, ReadMissingFileNamesIt) {
  try {
    read_file("/nonexistent/x.json");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.json"), std::string::npos);
  }
}
