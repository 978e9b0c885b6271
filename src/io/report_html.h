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
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::io {

/// A volume of the viewer, in drawing order (the first is the background).
struct ReportVolume {
  std::string name;      // a file name: its extension tells NiiVue the format, e.g. "SUV.nii.gz"
  std::string nifti;     // the file's bytes (.nii or .nii.gz)
  std::string colormap;  // a NiiVue colormap: gray, hot, green, ...
  double cal_min = 0, cal_max = 1, opacity = 1;
  bool mask = false;     // the lesion mask (the page's mask toggle hides it)
};

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

/// Standard base64 (RFC 4648, with padding; DCMTK's encoder), for data: URLs.
std::string base64(const std::string& bytes);

}  // namespace fratmae::io
