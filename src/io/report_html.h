// One self-contained HTML page for a study's prediction (`predict`'s report.html): the fused
// PET/CT with the lesion mask in a real viewer (NiiVue, its UMD build inlined), the lesion
// table (a click moves the viewer to the lesion), the coronal MIP and what made the result.
//
// The page needs no network and no server: the viewer's script, the volumes (NIfTI, base64)
// and the MIP (PNG, base64) are all inside it, so the file is all there is to send. NiiVue
// (npm @niivue/niivue, BSD-2-Clause) is installed into web/node_modules by
// scripts/install-deps.sh (pinned by web/package-lock.json); $FRATMAE_WEB_DIR overrides where
// it is looked for. Without it the page is written without the viewer and says so.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::io {

/// A volume of the viewer, in drawing order (the first is the background).
struct ReportVolume {
  ReportVolume(std::string name_, std::string nifti_, std::string colormap_, double cal_min_, double cal_max_,
               double opacity_, bool mask_ = false, std::string label_ = "")
      : name(std::move(name_)), nifti(std::move(nifti_)), colormap(std::move(colormap_)), cal_min(cal_min_),
        cal_max(cal_max_), opacity(opacity_), mask(mask_), label(std::move(label_)) {}
  std::string name;      // a file name: its extension tells NiiVue the format, e.g. "SUV.nii.gz"
  std::string nifti;     // the file's bytes (.nii or .nii.gz)
  std::string colormap;  // a NiiVue colormap: gray, hot, green, ...
  double cal_min = 0, cal_max = 1, opacity = 1;
  bool mask = false;     // a lesion mask (the page's mask toggle hides it, or its mask choice picks it)
  std::string label;     // what the mask choice calls it ("truth", a model); empty: the name
};

/// The pages' usual volumes, from a volume's NIfTI bytes: a CT in HU (gray, window -160..240),
/// a PET in SUV (hot, 0..10; opacity 0.6 over a CT, else 1) and a lesion mask (green, 0.5).
ReportVolume ct_volume(std::string nifti);
ReportVolume pet_volume(std::string nifti, bool over_ct);
ReportVolume mask_volume(std::string name, std::string nifti, std::string label = "");

struct StudyReport {
  std::string title;                  // e.g. "fratmae predict: STS_002"
  std::vector<ReportVolume> volumes;  // CT (gray), PET (hot), mask (green), on one grid
  nlohmann::json lesions;             // lesions.json's content (eval/lesion_stats.h)
  std::string mip_png;                // the PNG's bytes; empty: none
  nlohmann::json facts = nlohmann::json::object();  // label -> value, shown above the viewer
  std::string note;                   // shown in a box when not empty (e.g. downsampled volumes)
};

/// The NiiVue UMD bundle this build uses ($FRATMAE_WEB_DIR/node_modules/@niivue/niivue/dist/
/// niivue.umd.js, else the source tree's web/); an empty path when it is not installed.
std::filesystem::path niivue_bundle();

/// The page. `viewer_js`: the bundle's text; empty: the page without a viewer, saying why.
std::string study_report_html(const StudyReport& report, const std::string& viewer_js);

/// A page of results (`experiment`'s and `evaluate`'s report.html): a markdown text (report.md:
/// the tables with their CIs) rendered in the page (npm marked, MIT, inlined like the viewer),
/// figures, and one example case in the viewer with a choice of masks (the truth, a floor, each
/// model's prediction).
struct ResultsPage {
  std::string title;
  nlohmann::json facts = nlohmann::json::object();
  std::string markdown;                                   // e.g. report.md
  std::vector<std::pair<std::string, std::string>> svgs;  // caption, the SVG's text
  std::vector<std::pair<std::string, std::string>> pngs;  // caption, the PNG's bytes
  std::string example;                                    // what the viewer shows, e.g. "test case X"
  std::vector<ReportVolume> volumes;                      // images first, then the masks (mask = true)
  std::string note;
};

/// The marked UMD bundle (node_modules/marked/lib/marked.umd.js, looked for as niivue_bundle());
/// an empty path when it is not installed.
std::filesystem::path marked_bundle();

/// The page. viewer_js / markdown_js: the bundles' texts; empty: the page without a viewer
/// (saying why) / with the markdown as plain text.
std::string results_page_html(const ResultsPage& report, const std::string& viewer_js,
                                   const std::string& markdown_js);

/// The bundles' texts for a page ("" for one that is not installed, with a warning naming `who`).
struct PageBundles {
  std::string viewer, markdown;
};
PageBundles page_bundles(const std::string& who);

/// Standard base64 (RFC 4648, with padding; DCMTK's encoder), for data: URLs.
std::string base64(const std::string& bytes);

}  // namespace fratmae::io
