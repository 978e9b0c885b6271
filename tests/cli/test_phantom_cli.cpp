// `fratmae phantom` as a user runs it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/image_io.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST(PhantomCli, WritesTheAutoPetLayoutDeterministically) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "a") + " --cases 3 --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("phantom --out " + quote(tmp / "b") + " --cases 3 --seed 4 --workers 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string csv = slurp(tmp / "a/metadata.csv");
  EXPECT_EQ(csv.rfind("case,tracer,diagnosis,age,sex,stage,", 0), 0u) << csv;
  EXPECT_EQ(csv, slurp(tmp / "b/metadata.csv"));
  for (const char* c : {"PHANTOM_0000", "PHANTOM_0001", "PHANTOM_0002"}) {
    for (const char* f : {"CTres.nii.gz", "SUV.nii.gz", "SEG.nii.gz", "lesions.json", "mip.png"}) {
      ASSERT_TRUE(fs::exists(tmp / "a" / c / f)) << c << "/" << f;
      // Same seed, same bytes, whatever the number of workers.
      EXPECT_EQ(slurp(tmp / "a" / c / f), slurp(tmp / "b" / c / f)) << c << "/" << f;
    }
    const Volume suv = io::read_image(tmp / "a" / c / "SUV.nii.gz");
    const Volume ct = io::read_image(tmp / "a" / c / "CTres.nii.gz");
    const Volume seg = io::read_labels(tmp / "a" / c / "SEG.nii.gz");
    EXPECT_TRUE(suv.geom == ct.geom);
    EXPECT_TRUE(suv.geom == seg.geom);
    EXPECT_EQ(suv.geom.size, (std::array<int64_t, 3>{200, 104, 64}));
  }
  // A second run into the same folder needs --overwrite.
  r = run_fratmae("phantom --out " + quote(tmp / "a") + " --cases 3 --seed 4");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
}

TEST(PhantomCli, HodgkinCohortHasStages) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp.path()) + " --cases 2 --cohort hodgkin --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream csv(slurp(tmp / "metadata.csv"));
  std::string line;
  std::getline(csv, line);
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find("hodgkin lymphoma"), std::string::npos);
    EXPECT_TRUE(line.find(",early,") != std::string::npos || line.find(",advanced,") != std::string::npos) << line;
  }
  EXPECT_EQ(rows, 2);
}

TEST(PhantomCli, BadArgumentsAreExplained) {
  test::TempDir tmp;
  auto r = run_fratmae("phantom --out " + quote(tmp / "x") + " --preset huge");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--preset"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "x/metadata.csv"));
  r = run_fratmae("phantom --out " + quote(tmp / "x") + " --cases 0");
  EXPECT_NE(r.exit_code, 0);
}
