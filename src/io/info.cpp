#include "io/info.h"

#include <cmath>
#include <sstream>

#include "core/atomic_output.h"
#include "core/error.h"
#include "io/dicom_series.h"
#include "io/image_io.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

json describe_volume(const Volume& v) {
  const Geometry& g = v.geom;
  json j;
  j["size"] = g.size;
  j["spacing_mm"] = g.spacing;
  j["origin_lps_mm"] = g.origin;
  j["direction"] = g.direction;
  j["orientation"] = g.orientation_code();
  const int64_t bad = count_non_finite(v);
  j["non_finite_voxels"] = bad;
  at::Tensor finite = v.data.is_floating_point() ? v.data.masked_select(at::isfinite(v.data)) : v.data;
  if (finite.numel() > 0) {
    j["min"] = finite.min().item<double>();
    j["max"] = finite.max().item<double>();
    j["mean"] = finite.to(at::kDouble).mean().item<double>();
  }
  return j;
}

// Units of a file written by `fratmae convert`, from its name and the study.json beside it.
std::string units_from_name(const fs::path& p) {
  const std::string n = p.filename().string();
  if (n.rfind("SUV", 0) == 0) return "SUVbw (g/mL)";
  if (n.rfind("CT", 0) == 0) return "HU";
  if (n.rfind("SEG", 0) == 0) return "label";
  return "";
}

json describe_file(const fs::path& p) {
  json j = describe_volume(read_image(p));
  j["path"] = p.string();
  j["kind"] = "image";
  const std::string units = units_from_name(p);
  if (!units.empty()) j["units"] = units + " (from the file name)";
  return j;
}

json describe_series(const DicomSeries& s) {
  json j;
  j["path"] = s.folder.string();
  j["series_uid"] = s.series_uid;
  j["modality"] = s.modality;
  j["description"] = s.description;
  j["files"] = s.files.size();
  if (!s.has_pixels) {
    j["kind"] = "dicom-object";
    j["what"] = modality_in_words(s.modality);
    return j;
  }
  j["kind"] = "dicom-series";
  j.update(describe_volume(read_series(s)));
  if (s.modality == "PT") {
    const PetHeader h = read_pet_header(s);
    j["units"] = h.units;
    try {
      const SuvResult r = compute_suv(h);
      j["suv_factor"] = r.suvbw_factor;
      j["suv_method"] = r.method;
    } catch (const Error& e) {
      j["suv_problem"] = e.what();
    }
  } else if (s.modality == "CT") {
    j["units"] = "HU";
  }
  return j;
}

}  // namespace

namespace {
// The series and images of `dir`, then those of its sub-folders (sorted, `depth` levels down):
// a study's parent folder shows the study.
void describe_folder(const fs::path& dir, int depth, json& out) {
  for (const DicomSeries& s : scan_dicom_folder(dir)) out.push_back(describe_series(s));
  std::vector<fs::path> images, folders;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && is_image_file(e.path())) images.push_back(e.path());
    if (e.is_directory() && e.path().filename().string().rfind('.', 0) != 0) folders.push_back(e.path());
  }
  std::sort(images.begin(), images.end());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& p : images) out.push_back(describe_file(p));
  if (depth > 0)
    for (const fs::path& f : folders) describe_folder(f, depth - 1, out);
}
}  // namespace

json describe(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw FileError(path, "no such file or folder");
  json out = json::array();
  if (!fs::is_directory(path, ec)) {
    out.push_back(describe_file(path));
    return out;
  }
  describe_folder(path, 4, out);
  if (out.empty())
    throw FileError(path, "holds no DICOM series and no image files (.nii.gz, .nrrd, .mha), nor do its sub-folders");
  return out;
}

std::string format_description(const json& d) {
  std::ostringstream s;
  s.precision(6);
  for (const json& e : d) {
    s << e["path"].get<std::string>();
    if (e.contains("series_uid"))
      s << "\n  series       " << e["series_uid"].get<std::string>() << " ("
        << e["modality"].get<std::string>() << ", " << e["files"].get<size_t>() << " files"
        << (e["description"].get<std::string>().empty() ? "" : ", " + e["description"].get<std::string>())
        << ")";
    s << "\n";
    if (e["kind"] == "dicom-object") {
      s << "  " << e.value("what", std::string("a DICOM object")) << ", not an image series\n";
      continue;
    }
    auto triple = [](const json& a) {
      std::ostringstream t;
      t.precision(6);
      t << a[0].get<double>() << " x " << a[1].get<double>() << " x " << a[2].get<double>();
      return t.str();
    };
    s << "  size         " << e["size"][0] << " x " << e["size"][1] << " x " << e["size"][2] << "\n";
    s << "  spacing      " << triple(e["spacing_mm"]) << " mm\n";
    s << "  origin       (" << e["origin_lps_mm"][0].get<double>() << ", "
      << e["origin_lps_mm"][1].get<double>() << ", " << e["origin_lps_mm"][2].get<double>()
      << ") mm, LPS\n";
    s << "  direction    [";
    for (int i = 0; i < 9; ++i) s << (i ? (i % 3 ? ", " : "; ") : "") << e["direction"][i].get<double>();
    s << "] (axes point " << e["orientation"].get<std::string>() << ")\n";
    if (e.contains("units")) s << "  units        " << e["units"].get<std::string>() << "\n";
    if (e.contains("suv_factor"))
      s << "  SUV factor   " << e["suv_factor"].get<double>() << " (" << e["suv_method"].get<std::string>() << ")\n";
    if (e.contains("suv_problem")) s << "  SUV          not computable: " << e["suv_problem"].get<std::string>() << "\n";
    if (e.contains("min"))
      s << "  values       " << e["min"].get<double>() << " .. " << e["max"].get<double>()
        << " (mean " << e["mean"].get<double>() << ")\n";
    if (e["non_finite_voxels"].get<int64_t>() > 0)
      s << "  WARNING      " << e["non_finite_voxels"].get<int64_t>() << " NaN/infinite voxels\n";
  }
  return s.str();
}

}  // namespace fratmae::io
