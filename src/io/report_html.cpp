#include "io/report_html.h"

#include <dcmtk/ofstd/ofstd.h>
#include <spdlog/fmt/fmt.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/atomic_output.h"
#include "fratmae/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

std::string escape_html(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// Text inside <script>: the HTML parser ends the element at "</script" in any case, even inside a
// JavaScript string; "<\/script" means the same to JavaScript and JSON.
std::string script_safe(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    o += s[i];
    if (s[i] == '<' && i + 7 < s.size() && s[i + 1] == '/') {
      std::string next = s.substr(i + 2, 6);
      for (char& c : next) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (next == "script") o += '\\';
    }
  }
  return o;
}

std::string number(const json& v, int decimals) {
  if (!v.is_number()) return "-";
  return fmt::format("{:.{}f}", v.get<double>(), decimals);
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1200px; }
h1 { font-size: 1.3em; margin-bottom: 0.3em; }
.facts { color: #555; margin-bottom: 1em; }
.facts span { margin-right: 1.5em; }
.note { background: #fff4d6; border: 1px solid #e0c060; padding: 0.5em 0.8em; margin: 0.8em 0; }
#viewer { width: 100%; height: 560px; background: #000; }
#gl { width: 100%; height: 100%; display: block; }
.controls { margin: 0.5em 0; }
.controls button { margin-right: 0.3em; }
#location { font-family: monospace; color: #444; margin-left: 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th { background: #f3f3f3; }
tbody tr { cursor: pointer; }
tbody tr:hover, tbody tr.selected { background: #e4f0ff; }
.row { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
.mip img { max-height: 520px; border: 1px solid #ccc; }
footer { color: #777; font-size: 0.85em; margin-top: 2em; }
)";

// Loads the volumes into NiiVue, wires the buttons and the lesion rows, and says when it is
// ready (window.fratmaeReport: {ready, error, viewer}) for whoever drives the page.
constexpr const char* kScript = R"(
(async function () {
  const state = { ready: false, error: null, viewer: null };
  window.fratmaeReport = state;
  const say = (t) => { document.getElementById('location').textContent = t; };
  try {
    if (typeof niivue === 'undefined') throw new Error('the NiiVue viewer is not bundled in this page');
    const volumes = JSON.parse(document.getElementById('fratmae-volumes').textContent);
    const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isColorbar: false,
                                   crosshairColor: [0.2, 0.8, 1, 1], dragAndDropEnabled: false });
    await nv.attachTo('gl');
    for (const v of volumes) {
      const img = await niivue.NVImage.loadFromBase64({ base64: v.base64, name: v.name, colormap: v.colormap,
                                                        opacity: v.opacity, cal_min: v.cal_min, cal_max: v.cal_max });
      nv.addVolume(img);
    }
    nv.setSliceType(nv.sliceTypeMultiplanar);
    nv.onLocationChange = (d) => say(d && d.string ? d.string : '');
    const views = { multiplanar: nv.sliceTypeMultiplanar, axial: nv.sliceTypeAxial, coronal: nv.sliceTypeCoronal,
                    sagittal: nv.sliceTypeSagittal, '3D': nv.sliceTypeRender };
    for (const b of document.querySelectorAll('button[data-view]'))
      b.addEventListener('click', () => nv.setSliceType(views[b.dataset.view]));
    const maskIndex = volumes.findIndex((v) => v.role === 'mask');
    const toggle = document.getElementById('mask-toggle');
    if (toggle && maskIndex >= 0)
      toggle.addEventListener('change', () => nv.setOpacity(maskIndex, toggle.checked ? volumes[maskIndex].opacity : 0));
    // A lesion row moves the crosshair to the lesion's centroid (world mm, RAS as NIfTI's).
    state.goTo = (mm) => {
      nv.scene.crosshairPos = nv.mm2frac(mm);
      nv.drawScene();
      nv.createOnLocationChange();
    };
    for (const tr of document.querySelectorAll('tbody tr[data-mm]')) {
      tr.addEventListener('click', () => {
        for (const o of document.querySelectorAll('tbody tr.selected')) o.classList.remove('selected');
        tr.classList.add('selected');
        state.goTo(tr.dataset.mm.split(',').map(Number));
      });
    }
    state.viewer = nv;
    state.ready = true;
  } catch (e) {
    state.error = String(e && e.message ? e.message : e);
    say('viewer: ' + state.error);
    const v = document.getElementById('viewer');
    if (v) v.style.display = 'none';
  }
})();
)";

}  // namespace

std::string base64(const std::string& bytes) {
  OFString out;
  OFStandard::encodeBase64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out);
  return std::string(out.c_str(), out.length());
}

fs::path niivue_bundle() {
  std::vector<fs::path> roots;
  if (const char* e = std::getenv("FRATMAE_WEB_DIR"); e && *e) roots.emplace_back(e);
#ifdef FRATMAE_WEB_DIR
  roots.emplace_back(FRATMAE_WEB_DIR);
#endif
  roots.emplace_back("web");
  for (const fs::path& r : roots) {
    const fs::path p = r / "node_modules" / "@niivue" / "niivue" / "dist" / "niivue.umd.js";
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

std::string study_report_html(const StudyReport& r, const std::string& viewer_js) {
  std::string h;
  h += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"generator\" content=\"fratmae " + std::string(FRATMAE_VERSION) + "\">\n";
  h += "<title>" + escape_html(r.title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  h += "<h1>" + escape_html(r.title) + "</h1>\n<div class=\"facts\">";
  for (const auto& [k, v] : r.facts.items())
    h += "<span><b>" + escape_html(k) + ":</b> " + escape_html(v.is_string() ? v.get<std::string>() : v.dump()) + "</span>";
  h += "</div>\n";
  if (!r.note.empty()) h += "<div class=\"note\">" + escape_html(r.note) + "</div>\n";
  if (viewer_js.empty())
    h += "<div class=\"note\">No viewer in this page: the NiiVue bundle was not found when it was written (install it "
         "with scripts/install-deps.sh, or point FRATMAE_WEB_DIR at a folder with node_modules/@niivue/niivue).</div>\n";

  // Viewer and its controls.
  h += "<div class=\"controls\">";
  for (const char* v : {"multiplanar", "axial", "coronal", "sagittal", "3D"})
    h += std::string("<button data-view=\"") + v + "\">" + v + "</button>";
  h += "<label><input type=\"checkbox\" id=\"mask-toggle\" checked> lesion mask</label><span id=\"location\"></span></div>\n";
  h += "<div id=\"viewer\"><canvas id=\"gl\"></canvas></div>\n";

  // Lesion table and MIP.
  const json lesions = r.lesions.value("lesions", json::array());
  h += "<div class=\"row\"><div>\n<h2>" + std::to_string(lesions.size()) + " lesion" + (lesions.size() == 1 ? "" : "s");
  if (r.lesions.contains("mtv_ml"))
    h += fmt::format(", MTV {:.1f} mL, TLG {:.1f}", r.lesions.value("mtv_ml", 0.0), r.lesions.value("tlg", 0.0));
  h += "</h2>\n<table id=\"lesions\">\n<thead><tr><th>#</th><th>volume (mL)</th><th>SUVmax</th><th>SUVmean</th>"
       "<th>SUVpeak</th><th>TLG</th><th>centroid L, P, S (mm)</th></tr></thead>\n<tbody>\n";
  int n = 0;
  for (const json& l : lesions) {
    ++n;
    // The viewer's world coordinates are NIfTI's RAS: x and y of LPS change sign.
    std::string ras, centre;
    if (l.contains("centroid_lps_mm") && l["centroid_lps_mm"].size() == 3) {
      const json& c = l["centroid_lps_mm"];
      ras = fmt::format("{:.2f},{:.2f},{:.2f}", -c[0].get<double>(), -c[1].get<double>(), c[2].get<double>());
      centre = number(c[0], 1) + ", " + number(c[1], 1) + ", " + number(c[2], 1);
    }
    h += "<tr data-mm=\"" + ras + "\"><td>" + std::to_string(l.value("lesion", n)) + "</td><td>" +
         number(l.value("volume_ml", json()), 2) + "</td><td>" + number(l.value("suv_max", json()), 2) + "</td><td>" +
         number(l.value("suv_mean", json()), 2) + "</td><td>" + number(l.value("suv_peak", json()), 2) + "</td><td>" +
         number(l.value("tlg", json()), 1) + "</td><td>" + centre + "</td></tr>\n";
  }
  h += "</tbody>\n</table>\n<p>A row moves the viewer to the lesion.</p></div>\n";
  if (!r.mip_png.empty())
    h += "<div class=\"mip\"><h2>Coronal MIP</h2><img alt=\"coronal maximum intensity projection\" src=\"data:image/png;base64," +
         base64(r.mip_png) + "\"></div>\n";
  h += "</div>\n";

  // Data, viewer, wiring.
  json vols = json::array();
  for (const ReportVolume& v : r.volumes)
    vols.push_back({{"name", v.name}, {"base64", base64(v.nifti)}, {"colormap", v.colormap}, {"cal_min", v.cal_min},
                    {"cal_max", v.cal_max}, {"opacity", v.opacity}, {"role", v.mask ? "mask" : "image"}});
  h += "<script id=\"fratmae-volumes\" type=\"application/json\">" + script_safe(vols.dump()) + "</script>\n";
  if (!viewer_js.empty()) h += "<script>\n" + script_safe(viewer_js) + "\n</script>\n";
  h += "<script>" + std::string(kScript) + "</script>\n";
  h += "<footer>Written by fratmae " + std::string(FRATMAE_VERSION) +
       (viewer_js.empty() ? std::string() : ". Viewer: NiiVue (BSD-2-Clause), bundled into this page") +
       ". Research software, not for clinical diagnosis.</footer>\n</body>\n</html>\n";
  return h;
}

}  // namespace fratmae::io
