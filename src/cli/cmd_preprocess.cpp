#ifdef FRATMAE_WITH_ITK
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "data/cache_writer.h"
#include "io/dataset_import.h"

namespace fratmae::cli {

void add_preprocess(CLI::App& app) {
  struct Args {
    io::PreprocessConfig cfg;
    std::string on_bad = "stop";
    bool no_native = false;
    bool merge = false;
    std::vector<int64_t> size{160, 160, 192};
    std::vector<double> ct_window{-1000, 1000};
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "preprocess",
      "Preprocess a dataset (AutoPET III as distributed: dataset.json, imagesTr/<case>_0000|0001.nii.gz, "
      "labelsTr/, fdg_metadata.csv, psma_metadata.csv; AutoPET I/II: <case>/CTres.nii.gz, SUV.nii.gz[, SEG.nii.gz] "
      "with TCIA's clinical CSV or metadata.csv; or folders from fratmae convert) into a training cache: whole body resized to H x W x D, native "
      "copy for segmentation, normalised int16, prompts and CLIP ids. Incremental: cases already done "
      "with the same settings are skipped");
  sub->add_option("-d,--data", a->cfg.data, "dataset folder");
  sub->add_option("-m,--metadata", a->cfg.metadata,
                  "metadata CSV(s): fratmae's (case,tracer,diagnosis,age,sex[,stage]) or AutoPET's FDG / PSMA tables; "
                  "default: those in DATA (metadata.csv, fdg_metadata.csv, psma_metadata.csv), else each case's study.json");
  sub->add_option("-o,--out", a->cfg.out, "cache folder (created, or updated incrementally)")->required();
  sub->add_option("--size", a->size, "whole-body size H W D (AP, LR, SI)")->expected(3)->capture_default_str();
  sub->add_option("-j,--workers", a->cfg.build.workers, "cases preprocessed at once (0 = one per core)")
      ->capture_default_str();
  sub->add_option("--on-bad-case", a->on_bad, "a case that fails its checks: skip it (with a warning) or stop")
      ->check(CLI::IsMember({"skip", "stop"}))
      ->capture_default_str();
  sub->add_flag("--no-native", a->no_native, "do not keep the native-resolution copy (no segmentation crops)");
  sub->add_option("--ct-window", a->ct_window, "CT HU window mapped to [-1, 1]")->expected(2)->capture_default_str();
  sub->add_option("--pet-max", a->cfg.settings.normalize.pet_max_suv, "SUV clipped to [0, max]")->capture_default_str();
  sub->add_option("--pet-transform", a->cfg.settings.normalize.pet_transform,
                  "PET to [0, 1]: log (log1p(SUV)/log1p(max)) or linear (SUV/max)")
      ->check(CLI::IsMember({"log", "linear"}))
      ->capture_default_str();
  sub->add_option("--pet-resize", a->cfg.settings.pet_resize,
                  "whole-body PET: linear (trilinear, as the CT) or max (each voxel the maximum of the native voxels it "
                  "covers: small hot foci stay visible in a coarse whole body)")
      ->check(CLI::IsMember({"linear", "max"}))
      ->capture_default_str();
  sub->add_flag("--overwrite", a->cfg.overwrite, "rebuild every case (also needed to change the settings of a cache)");
  auto* shard = sub->add_option("--shard", a->cfg.shard,
                                "do shard I of N of the cases (I/N, from 0; default: RANK/WORLD_SIZE, SLURM_PROCID/SLURM_NTASKS "
                                "or a SLURM array's task, else all) into OUT; the last shard to finish writes index.json");
  sub->add_flag("--merge", a->merge,
                "only merge the finished shards in OUT (index-I-of-N.json) into index.json, e.g. shards run as "
                "separate jobs")
      ->excludes(shard);
  sub->callback([a] {
    if (a->merge) {
      const data::ShardMerge m = data::merge_cache_shards(a->cfg.out);
      if (m.shards == 0) throw FileError(a->cfg.out, "holds no shards to merge (index-I-of-N.json of preprocess --shard)");
      if (!m.merged) throw FileError(a->cfg.out, "cannot merge the " + std::to_string(m.shards) + " shards yet: " + m.waiting_for + " is missing");
      spdlog::info("cache {}: {} case(s) merged from {} shards", a->cfg.out.string(), m.cases, m.shards);
      return;
    }
    if (a->cfg.data.empty()) throw Error("preprocess: --data DIR is required (or --merge)");
    a->cfg.settings.size = {a->size[0], a->size[1], a->size[2]};
    a->cfg.settings.normalize.ct_min_hu = a->ct_window[0];
    a->cfg.settings.normalize.ct_max_hu = a->ct_window[1];
    a->cfg.settings.native = !a->no_native;
    a->cfg.build.on_bad_case = a->on_bad == "skip" ? data::OnBadCase::kSkip : data::OnBadCase::kStop;
    const data::BuildReport r = io::preprocess_dataset(a->cfg);
    spdlog::info("cache {}: {} case(s){} ({} preprocessed, {} already current{}) in {:.1f} s",
                 a->cfg.out.string(), r.total_in_cache, r.merged ? " from all shards" : "", r.processed, r.skipped,
                 r.failed ? ", " + std::to_string(r.failed) + " bad case(s) skipped" : std::string(), r.seconds);
    if (!r.failures.empty()) {
      std::string ids;
      for (const auto& f : r.failures) ids += (ids.empty() ? "" : ", ") + f.first;
      spdlog::warn("bad case(s) left out of the cache (messages above): {}", ids);
    }
  });
}

}  // namespace fratmae::cli
#endif
