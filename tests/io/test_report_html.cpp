// report.html's pieces: base64 against RFC 4648's test vectors, the page's text (escaping, one
// row per lesion, a page without the viewer saying why). The page in a real browser is
// tests/cli/test_predict_cli.cpp's ReportPageInChromium.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/report_html.h"
#include "test_util.h"

using namespace fratmae;
using nlohmann::json;

TEST(ReportHtml, Base64MatchesRfc4648) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> v[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},   {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : v) EXPECT_EQ(io::base64(in), out) << in;
  EXPECT_EQ(io::base64(std::string("\0\xff\x10", 3)), "AP8Q");
}

TEST(ReportHtml, PageHoldsTheTableTheVolumesAndAnEscapedViewer) {
  io::StudyReport r;
  r.title = "fratmae predict: <case & co>";
  r.facts["made by"] = "floor \"suvmax41\"";
  r.volumes.push_back({"SUV.nii.gz", std::string("\x1f\x8b\x08", 3), "hot", 0, 10, 1});
  r.volumes.push_back({"SEG.nii.gz", "x", "green", 0.5, 1, 0.5, /*mask=*/true});
  json lesions = json::array();
  for (int i = 1; i <= 3; ++i)
    lesions.push_back({{"lesion", i}, {"volume_ml", 1.5 * i}, {"suv_max", 8.0}, {"suv_mean", 5.0}, {"suv_peak", 6.0},
                       {"tlg", 7.5 * i}, {"centroid_lps_mm", {10.0 * i, -20.0, 30.0}}, {"voxels", 12}});
  r.lesions = {{"lesions", lesions}, {"mtv_ml", 9.0}, {"tlg", 45.0}};
  r.mip_png = "\x89PNG";
  const std::string viewer = "var niivue = {}; var s = '</script><b>'; var t = '</SCRIPT>';";
  const std::string page = io::study_report_html(r, viewer);
  EXPECT_EQ(test::count_occurrences(page, "<tr data-mm="), 3u);
  EXPECT_NE(page.find("data-mm=\"-30.00,20.00,30.00\""), std::string::npos) << "LPS (30, -20, 30) is RAS (-30, 20, 30)";
  EXPECT_NE(page.find("3 lesions, MTV 9.0 mL, TLG 45.0"), std::string::npos);
  EXPECT_NE(page.find("<title>fratmae predict: &lt;case &amp; co&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find("floor &quot;suvmax41&quot;"), std::string::npos);
  EXPECT_NE(page.find(io::base64(std::string("\x1f\x8b\x08", 3))), std::string::npos);  // the volume, embedded
  EXPECT_NE(page.find("data:image/png;base64," + io::base64("\x89PNG")), std::string::npos);
  // The viewer's text cannot end its <script> element early: "</script" is written "<\/script".
  EXPECT_NE(page.find("var s = '<\\/script><b>'; var t = '<\\/SCRIPT>';"), std::string::npos);
  EXPECT_EQ(test::count_occurrences(page, "</script>"), 3u);  // volumes, viewer, wiring: exactly their own ends
  EXPECT_EQ(page.find("No viewer in this page"), std::string::npos);
  EXPECT_EQ(test::count_occurrences(page, "\"role\":\"mask\""), 1u);  // the mask toggle's volume
  // Without the bundle the page is still written, and says why there is no viewer.
  const std::string bare = io::study_report_html(r, "");
  EXPECT_NE(bare.find("No viewer in this page"), std::string::npos);
  EXPECT_EQ(test::count_occurrences(bare, "<tr data-mm="), 3u);
}

TEST(ReportHtml, TheBundleOfThisBuildIsFound) {
  // scripts/install-deps.sh installs it (web/node_modules); without it the pages have no viewer.
  const auto p = io::niivue_bundle();
  ASSERT_FALSE(p.empty()) << "web/node_modules/@niivue/niivue is not installed: run scripts/install-deps.sh (npm ci in web/)";
  EXPECT_EQ(p.filename(), "niivue.umd.js");
}
