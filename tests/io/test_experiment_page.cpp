// `experiment`'s report.html (io/experiment_page.h) from an experiment folder's own files:
// report.md's tables, the pictures, the example case in the viewer with one choice per mask;
// checked in the page's text and in headless chromium (tests/web/check_results_page.mjs).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/volume.h"
#include "io/experiment_page.h"
#include "train/experiment.h"
#include "viz/png.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;
using test::quote;

namespace {

// A finished experiment's files, small: two tables, a curve, a picture, an example case whose
// CT, SUV and three masks lie on a grid with the phantom's ILP axes.
void write_experiment_folder(const fs::path& dir) {
  fs::create_directories(dir / "pictures");
  write_file_atomic(dir / "report.md", "# FratMAE experiment (`smoke` preset)\n\n## Table 2\n\n| approach | Dice |\n|---|---|\n"
                                       "| coronal | 0.412 (0.301-0.522) |\n| axial | 0.388 (0.270-0.500) |\n\n"
                                       "## Table 3\n\n| setting | Dice |\n|---|---|\n| FratMAE | 0.300 |\n");
  write_file_atomic(dir / "report.json", json{{"preset", "smoke"}, {"seconds", {{"total", 125.0}}}}.dump());
  write_file_atomic(dir / "pictures" / "pretrain_loss.svg",
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"20\"><path d=\"M0 20 L40 0\" "
                    "stroke=\"black\"/></svg>");
  viz::write_png(dir / "pictures" / "segmentation_examples.png", at::full({8, 12, 3}, 200, at::kByte));
  Geometry g;
  g.size = {24, 20, 32};
  g.spacing = {5, 5, 6};
  g.origin = {-60, -50, 0};
  g.direction = {0, 1, 0, 0, 0, 1, -1, 0, 0};  // ILP, as the phantom writes
  const at::Tensor shape_ref = to_canonical(Volume{at::zeros({32, 20, 24}), g}).data;  // canonical (H, W, D)
  auto blob = [&](int64_t r) {
    auto m = at::zeros_like(shape_ref, at::kByte);
    m.narrow(0, 12, r).narrow(1, 8, r).narrow(2, 10, r).fill_(1);
    return m;
  };
  at::Tensor ct = at::full_like(shape_ref, -800.0), suv = at::full_like(shape_ref, 0.5);
  ct.narrow(1, 4, 12).fill_(40.0);  // a body
  suv.narrow(0, 12, 4).narrow(1, 8, 4).narrow(2, 10, 4).fill_(8.0);
  save_safetensors(dir / "pictures" / train::kExampleCaseFile,
                   {{"ct_hu", ct}, {"suv", suv}, {"mask_0", blob(4)}, {"mask_1", blob(3)}, {"mask_2", blob(2)}},
                   {{"case", "PHANTOM_0007"}, {"geometry", geometry_to_json(g).dump()},
                    {"masks", json{"truth", "floor", "model <A>"}.dump()}});
}

}  // namespace

TEST(ExperimentPage, OnePageWithTheReportThePicturesAndTheExampleCase) {
  test::TempDir tmp;
  write_experiment_folder(tmp / "exp");
  io::write_experiment_page(tmp / "exp");
  const std::string page = read_file(tmp / "exp" / "report.html");
  EXPECT_NE(page.find("<title>fratmae experiment: smoke preset</title>"), std::string::npos);
  EXPECT_NE(page.find("Example: test case PHANTOM_0007"), std::string::npos);
  EXPECT_NE(page.find("| coronal | 0.412 (0.301-0.522) |"), std::string::npos);  // report.md, to be rendered
  EXPECT_EQ(test::count_occurrences(page, "\"role\":\"mask\""), 3u);
  EXPECT_NE(page.find("\"label\":\"model <A>\""), std::string::npos);
  EXPECT_EQ(test::count_occurrences(page, "class=\"figure\""), 2u);
  EXPECT_NE(page.find("id=\"mask-choice\""), std::string::npos);
  EXPECT_EQ(page.find("No viewer in this page"), std::string::npos);

  const auto r = test::run_command("node " + quote(test::test_path("web_results_check")) + " " +
                                   quote(tmp / "exp" / "report.html") + " 2 3");
  if (r.exit_code == 77) GTEST_SKIP() << "no browser to test the page in (chromium or playwright-core missing): " << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(ExperimentPage, AnUnfinishedExperimentOrABadExampleFileIsAnError) {
  test::TempDir tmp;
  fs::create_directories(tmp / "exp");
  try {
    io::write_experiment_page(tmp / "exp");
    FAIL() << "no report.md: expected an error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("report.md"), std::string::npos) << e.what();
  }
  write_experiment_folder(tmp / "bad");
  write_file_atomic(tmp / "bad" / "pictures" / train::kExampleCaseFile, "not a safetensors file");
  EXPECT_THROW(io::write_experiment_page(tmp / "bad"), FileError);
  EXPECT_FALSE(fs::exists(tmp / "bad" / "report.html"));
  EXPECT_FALSE(fs::exists(tmp / "exp" / "report.html"));
}
