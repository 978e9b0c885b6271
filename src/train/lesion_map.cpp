#include "train/lesion_map.h"

#include <memory>
#include <mutex>

#include "core/error.h"
#include "data/normalize.h"
#include "infer/cache_eval.h"
#include "train/finetuner.h"

namespace fs = std::filesystem;

namespace fratmae::train {

std::vector<data::CaseJob> lesion_map_jobs(std::vector<data::CaseJob> jobs, const fs::path& seg_run,
                                           const std::string& device, bool bf16) {
  struct Shared {
    DownstreamModel dm;
    data::NormalizeConfig norm;
    infer::SlidingWindowConfig sw;
    std::mutex m;
  };
  auto s = std::make_shared<Shared>();
  s->dm = load_finetuned(seg_run, device);
  if (!s->dm.seg) throw FileError(seg_run, "is not a segmentation run (a lesion map needs `finetune --task seg`)");
  s->norm = data::CacheSettings::from_json(s->dm.run_config.at("cache").at("settings")).normalize;
  s->sw = evaluation_windows(s->dm);
  // The checkpoint's record: run, checkpoint, step and the weights' SHA-256.
  const std::string from = "|lesion map of " + s->dm.source.dump();
  for (data::CaseJob& j : jobs) {
    j.signature += from;
    j.load = [s, load = std::move(j.load), device, bf16] {
      data::CaseArrays c = load();
      // The network's inputs as the segmentation cache and `predict` make them.
      const at::Tensor pet_n = data::as_stored(data::normalize_pet(c.suv, s->norm));
      const at::Tensor ct_n = data::as_stored(data::normalize_ct(c.ct, s->norm));
      at::Tensor mask;  // (H, W, D) uint8
      {
        std::lock_guard<std::mutex> lock(s->m);
        mask = infer::segment_volume(s->dm.seg, ct_n, pet_n, s->sw, torch::Device(device), bf16).mask;
      }
      c.suv = at::where(mask > 0, at::full({}, kLesionMapSuv), at::full({}, kLesionMapBackground)).to(at::kFloat);
      return c;
    };
  }
  return jobs;
}

}  // namespace fratmae::train
