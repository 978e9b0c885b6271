#include "io/experiment_page.h"

#include <spdlog/fmt/fmt.h>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/volume.h"
#include "io/image_io.h"
#include "io/report_html.h"
#include "train/experiment.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

// The example case's volumes on its source grid: CT (gray), PET (hot), then the masks, the
// first (the truth) shown at the start.
std::vector<ReportVolume> example_volumes(const fs::path& file, std::string& example) {
  const SafetensorsFile f = load_safetensors(file);
  json masks, geometry;
  try {
    masks = json::parse(f.metadata.at("masks"));
    geometry = json::parse(f.metadata.at("geometry"));
  } catch (const std::exception& e) {
    throw FileError(file, std::string("is not an experiment's example case (metadata masks/geometry: ") + e.what() + ")");
  }
  const Geometry g = geometry_from_json(geometry);
  auto tensor = [&](const std::string& name) {
    const auto it = f.tensors.find(name);
    if (it == f.tensors.end()) throw FileError(file, "has no tensor '" + name + "'");
    return it->second;
  };
  example = "test case " + (f.metadata.count("case") ? f.metadata.at("case") : std::string("?"));
  std::vector<ReportVolume> v;
  v.push_back(ct_volume(nifti_gz_bytes(from_canonical(tensor("ct_hu"), g))));
  v.push_back(pet_volume(nifti_gz_bytes(from_canonical(tensor("suv"), g)), /*over_ct=*/true));
  for (size_t i = 0; i < masks.size(); ++i) {
    const std::string name = "mask_" + std::to_string(i);
    v.push_back(mask_volume(name + ".nii.gz", nifti_gz_bytes(from_canonical(tensor(name), g)), masks[i].get<std::string>()));
  }
  return v;
}

std::string optional_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? read_file(p) : std::string();
}

}  // namespace

void write_experiment_page(const fs::path& dir) {
  const fs::path md = dir / "report.md";
  std::error_code ec;
  if (!fs::is_regular_file(md, ec)) throw FileError(md, "is missing (has the experiment finished?)");
  ResultsPage r;
  r.markdown = read_file(md);
  const json report = json::parse(optional_file(dir / "report.json"), nullptr, false);
  const std::string preset = report.is_object() ? report.value("preset", std::string("?")) : std::string("?");
  r.title = "fratmae experiment: " + preset + " preset";
  r.facts["folder"] = fs::absolute(dir).lexically_normal().string();
  if (report.is_object() && report.contains("seconds") && report["seconds"].contains("total"))
    r.facts["run time"] = fmt::format("{:.0f} min", report["seconds"]["total"].get<double>() / 60.0);
  const fs::path pictures = dir / "pictures";
  for (const auto& [file, caption] : std::vector<std::pair<const char*, const char*>>{
           {"pretrain_loss.svg", "Pre-training loss"},
           {"finetune_curves_seg.svg", "Segmentation fine-tuning: validation Dice (first seed of each setting)"},
           {"finetune_curves_stage.svg", "Staging fine-tuning: validation accuracy (first seed of each setting)"}}) {
    std::string svg = optional_file(pictures / file);
    if (!svg.empty()) r.svgs.emplace_back(caption, std::move(svg));
  }
  if (std::string png = optional_file(pictures / "segmentation_examples.png"); !png.empty())
    r.pngs.emplace_back("Coronal MIPs of the example case: truth, 41% SUVmax floor, full-label baseline, baseline 20%, "
                        "FratMAE 20%",
                        std::move(png));
  const fs::path example = pictures / train::kExampleCaseFile;
  if (fs::is_regular_file(example, ec)) r.volumes = example_volumes(example, r.example);
  const PageBundles b = page_bundles("experiment");
  write_file_atomic(dir / "report.html", results_page_html(r, b.viewer, b.markdown));
}

}  // namespace fratmae::io
