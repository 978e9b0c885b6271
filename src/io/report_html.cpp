#include "io/report_html.h"

#include <dcmtk/ofstd/ofstd.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/atomic_output.h"
#include "core/build_paths.h"
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
    // A choice of masks (the experiment page): one radio button per mask, one mask shown at a time.
    const choice = document.getElementById('mask-choice');
    if (choice) {
      const masks = volumes.map((v, i) => [v, i]).filter(([v]) => v.role === 'mask');
      state.showMask = (k) => {
        masks.forEach(([v, i], j) => nv.setOpacity(i, j === k ? v.opacity : 0));
        state.shownMask = k;
      };
      masks.forEach(([v], k) => {
        const label = document.createElement('label');
        const radio = document.createElement('input');
        radio.type = 'radio';
        radio.name = 'mask';
        radio.value = String(k);
        radio.checked = k === 0;
        radio.addEventListener('change', () => state.showMask(k));
        label.append(radio, ' ' + (v.label || v.name));
        choice.append(label);
      });
      if (masks.length) state.showMask(0);
    }
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

namespace {
// RELATIVE under the first web folder that has it: $FRATMAE_WEB_DIR, the build's, ./web.
fs::path web_file(const fs::path& relative) {
  std::vector<fs::path> roots;
  if (const char* e = std::getenv("FRATMAE_WEB_DIR"); e && *e) roots.emplace_back(e);
  if (const fs::path built = build_web_dir(); !built.empty()) roots.push_back(built);
  roots.emplace_back("web");
  for (const fs::path& r : roots) {
    const fs::path p = r / "node_modules" / relative;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}
}  // namespace

ReportVolume ct_volume(std::string nifti) { return {"CT.nii.gz", std::move(nifti), "gray", -160, 240, 1.0}; }

ReportVolume pet_volume(std::string nifti, bool over_ct) {
  return {"SUV.nii.gz", std::move(nifti), "hot", 0, 10, over_ct ? 0.6 : 1.0};
}

ReportVolume mask_volume(std::string name, std::string nifti, std::string label) {
  return {std::move(name), std::move(nifti), "green", 0.5, 1, 0.5, /*mask=*/true, std::move(label)};
}

fs::path niivue_bundle() { return web_file(fs::path("@niivue") / "niivue" / "dist" / "niivue.umd.js"); }

fs::path marked_bundle() { return web_file(fs::path("marked") / "lib" / "marked.umd.js"); }

PageBundles page_bundles(const std::string& who) {
  PageBundles b;
  const fs::path viewer = niivue_bundle(), markdown = marked_bundle();
  if (viewer.empty()) spdlog::warn("{}: report.html has no viewer: the NiiVue bundle is not installed (scripts/install-deps.sh)", who);
  else b.viewer = read_file(viewer);
  if (markdown.empty()) spdlog::warn("{}: report.html shows its tables as text: marked is not installed (scripts/install-deps.sh)", who);
  else b.markdown = read_file(markdown);
  return b;
}

namespace {

// The page's start: head, title, facts, note and the missing-viewer note.
std::string page_start(const std::string& title, const json& facts, const std::string& note, bool has_viewer,
                       const std::string& extra_style = "") {
  std::string h;
  h += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"generator\" content=\"fratmae " + std::string(FRATMAE_VERSION) + "\">\n";
  h += "<title>" + escape_html(title) + "</title>\n<style>" + std::string(kStyle) + extra_style + "</style>\n</head>\n<body>\n";
  h += "<h1>" + escape_html(title) + "</h1>\n<div class=\"facts\">";
  for (const auto& [k, v] : facts.items())
    h += "<span><b>" + escape_html(k) + ":</b> " + escape_html(v.is_string() ? v.get<std::string>() : v.dump()) + "</span>";
  h += "</div>\n";
  if (!note.empty()) h += "<div class=\"note\">" + escape_html(note) + "</div>\n";
  if (!has_viewer)
    h += "<div class=\"note\">No viewer in this page: the NiiVue bundle was not found when it was written (install it "
         "with scripts/install-deps.sh, or point FRATMAE_WEB_DIR at a folder with node_modules/@niivue/niivue).</div>\n";
  return h;
}

// The viewer and its controls: a mask toggle (one mask) or a choice of masks (several).
std::string viewer_block(bool mask_choice) {
  std::string h = "<div class=\"controls\">";
  for (const char* v : {"multiplanar", "axial", "coronal", "sagittal", "3D"})
    h += std::string("<button data-view=\"") + v + "\">" + v + "</button>";
  h += mask_choice ? "<span id=\"mask-choice\"><b>mask:</b> </span>"
                   : "<label><input type=\"checkbox\" id=\"mask-toggle\" checked> lesion mask</label>";
  h += "<span id=\"location\"></span></div>\n";
  h += "<div id=\"viewer\"><canvas id=\"gl\"></canvas></div>\n";
  return h;
}

// The volumes (JSON, base64 NIfTI), the viewer's bundle, the wiring script and the footer.
std::string page_end(const std::vector<ReportVolume>& volumes, const std::string& viewer_js, const std::string& credits) {
  json vols = json::array();
  for (const ReportVolume& v : volumes)
    vols.push_back({{"name", v.name}, {"base64", base64(v.nifti)}, {"colormap", v.colormap}, {"cal_min", v.cal_min},
                    {"cal_max", v.cal_max}, {"opacity", v.opacity}, {"role", v.mask ? "mask" : "image"},
                    {"label", v.label}});
  std::string h;
  if (!volumes.empty()) {  // no volumes: no viewer on the page
    h += "<script id=\"fratmae-volumes\" type=\"application/json\">" + script_safe(vols.dump()) + "</script>\n";
    if (!viewer_js.empty()) h += "<script>\n" + script_safe(viewer_js) + "\n</script>\n";
    h += "<script>" + std::string(kScript) + "</script>\n";
  }
  h += "<footer>Written by fratmae " + std::string(FRATMAE_VERSION) +
       (viewer_js.empty() || volumes.empty() ? std::string() : ". Viewer: NiiVue (BSD-2-Clause), bundled into this page") +
       credits +
       ". Research software, not for clinical diagnosis.</footer>\n</body>\n</html>\n";
  return h;
}

// Renders report.md into #report-md with marked when it is bundled; else shows it as text.
constexpr const char* kMarkdownScript = R"(
(function () {
  const out = document.getElementById('report-md');
  const text = document.getElementById('fratmae-markdown').textContent;
  if (typeof marked !== 'undefined' && marked.parse) {
    out.innerHTML = marked.parse(text);
  } else {
    const pre = document.createElement('pre');
    pre.textContent = text;
    out.append(pre);
  }
  window.fratmaeMarkdown = { rendered: typeof marked !== 'undefined' };
})();
)";

constexpr const char* kExperimentStyle = R"(
#report-md table td, #report-md table th { text-align: left; }
#report-md table td:not(:first-child) { text-align: right; }
#report-md { max-width: 100%; overflow-x: auto; }
.figure { margin: 1em 0; }
.figure img { max-width: 100%; border: 1px solid #ccc; }
#mask-choice label { margin-right: 0.8em; }
)";

}  // namespace

std::string study_report_html(const StudyReport& r, const std::string& viewer_js) {
  std::string h = page_start(r.title, r.facts, r.note, !viewer_js.empty());
  h += viewer_block(/*mask_choice=*/false);

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
  return h + page_end(r.volumes, viewer_js, "");
}

std::string results_page_html(const ResultsPage& r, const std::string& viewer_js,
                                   const std::string& markdown_js) {
  std::string h = page_start(r.title, r.facts, r.note, !viewer_js.empty() || r.volumes.empty(), kExperimentStyle);
  if (!r.volumes.empty()) {
    h += "<h2>Example: " + escape_html(r.example) + "</h2>\n";
    h += viewer_block(/*mask_choice=*/true);
  }
  for (const auto& [caption, svg] : r.svgs)
    h += "<div class=\"figure\"><h3>" + escape_html(caption) + "</h3><img alt=\"" + escape_html(caption) +
         "\" src=\"data:image/svg+xml;base64," + base64(svg) + "\"></div>\n";
  for (const auto& [caption, png] : r.pngs)
    h += "<div class=\"figure\"><h3>" + escape_html(caption) + "</h3><img alt=\"" + escape_html(caption) +
         "\" src=\"data:image/png;base64," + base64(png) + "\"></div>\n";
  h += "<div id=\"report-md\"></div>\n";
  h += "<script id=\"fratmae-markdown\" type=\"text/markdown\">" + script_safe(r.markdown) + "</script>\n";
  if (!markdown_js.empty()) h += "<script>\n" + script_safe(markdown_js) + "\n</script>\n";
  h += "<script>" + std::string(kMarkdownScript) + "</script>\n";
  return h + page_end(r.volumes, viewer_js, markdown_js.empty() ? "" : "; tables: marked (MIT), bundled into this page");
}

}  // namespace fratmae::io
