#include "io/phantom_writer.h"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "io/image_io.h"
#include "viz/mip.h"
#include "viz/png.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fratmae::io {

namespace {

json lesions_json(const phantom::PhantomCase& c) {
  json arr = json::array();
  const double voxel_ml = c.grid.spacing[0] * c.grid.spacing[1] * c.grid.spacing[2] / 1000.0;
  for (size_t i = 0; i < c.lesions.size(); ++i) {
    const phantom::Lesion& l = c.lesions[i];
    arr.push_back({{"index", i + 1},
                   {"site", phantom::site_name(l.site)},
                   {"ann_arbor_region", phantom::ann_arbor_region(l.site)},
                   {"centre_mm", {{"x_left", l.centre.x}, {"y_posterior", l.centre.y}, {"s_inferior", l.centre.s}}},
                   {"diameter_mm", l.diameter_mm()},
                   {"suv_true", l.suv},
                   {"contrast", l.contrast},
                   {"voxels", l.voxels},
                   {"volume_ml", l.voxels * voxel_ml}});
  }
  return {{"case", c.meta.case_id},
          {"ann_arbor_stage", c.meta.stage},
          {"diaphragm_s_mm", c.anatomy.diaphragm_s},
          {"coordinates", "x: patient left (+) of midline; y: posterior (+); s: mm below the top of the image"},
          {"lesions", arr}};
}

void write_case(const phantom::PhantomCase& c, const fs::path& dir, bool overwrite) {
  const Geometry geom = c.grid.geometry();
  // Canonical [H, W, D] tensors are ITK-ordered (D fastest) on the canonical geometry.
  auto vol = [&](const at::Tensor& t) { return Volume{t.cpu().contiguous(), geom}; };
  StagedOutputs out(dir, overwrite);
  write_image(vol(c.ct.round().to(at::kShort)), out.stage("CTres.nii.gz"));
  write_image(vol(c.suv), out.stage("SUV.nii.gz"));
  write_image(vol(c.seg), out.stage("SEG.nii.gz"));
  out.write_text("lesions.json", lesions_json(c).dump(2) + "\n");
  const at::Tensor png = viz::render_mip(c.suv.cpu(), c.ct.cpu(), c.seg.cpu(),
                                         {c.grid.spacing[1], c.grid.spacing[2]});
  viz::write_png(out.stage("mip.png"), png);
  out.commit();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

}  // namespace

void write_phantom_cohort(const phantom::PhantomConfig& cfg, const fs::path& out, bool overwrite,
                          int workers) {
  cfg.validate();
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw FileError(out, "cannot create output folder: " + ec.message());
  if (!overwrite && fs::exists(out / "metadata.csv"))
    throw FileError(out / "metadata.csv", "already exists; pass --overwrite to replace the cohort");

  // One case per worker thread, each single-threaded inside: the bytes of a case then do not
  // depend on how many cases or cores there are.
  const int threads = workers > 0 ? workers : std::max(1u, std::thread::hardware_concurrency());
  const int n_workers = static_cast<int>(std::min<int64_t>(threads, cfg.cases));
  std::vector<phantom::CaseMetadata> metas(cfg.cases);
  std::vector<int> lesion_counts(cfg.cases);
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  Progress progress("phantom", cfg.cases, "cases");
  auto work = [&] {
    single_threaded_ops_in_this_thread();
    for (;;) {
      const int64_t i = next.fetch_add(1);
      if (i >= cfg.cases) return;
      {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (failure) return;
      }
      try {
        const phantom::PhantomCase c = phantom::generate_case(cfg, i);
        write_case(c, out / c.meta.case_id, overwrite);
        metas[i] = c.meta;
        lesion_counts[i] = static_cast<int>(c.lesions.size());
        progress.advance(1);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < n_workers; ++w) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  progress.finish();

  std::ostringstream csv;
  csv << "case,tracer,diagnosis,age,sex,stage,stage_group,weight_kg,height_cm,lesions,preset,seed\n";
  for (int64_t i = 0; i < cfg.cases; ++i) {
    const auto& m = metas[i];
    csv << m.case_id << ',' << m.tracer << ',' << csv_field(m.diagnosis) << ',' << m.age << ','
        << m.sex << ',' << phantom::stage_roman(m.stage) << ','
        << phantom::stage_group(m.stage) << ',' << m.weight_kg << ',' << m.height_cm << ','
        << lesion_counts[i] << ',' << cfg.preset << ',' << cfg.seed << '\n';
  }
  write_file_atomic(out / "metadata.csv", csv.str());
}

}  // namespace fratmae::io
