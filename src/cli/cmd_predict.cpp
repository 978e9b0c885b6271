#ifdef FRATMAE_WITH_ITK
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "io/predict.h"
#include "io/predict_folder.h"

namespace fratmae::cli {

void add_predict(CLI::App& app) {
  auto c = std::make_shared<io::PredictConfig>();
  CLI::App* sub = app.add_subcommand(
      "predict", "Run a fine-tuned model on a PET/CT study (DICOM or NIfTI): lesion mask on the PET grid, "
                 "lesions.json (volumes, SUVmax/mean/peak, TLG, MTV) and a MIP picture; or stage probabilities. "
                 "--floor runs a classic threshold segmentation instead of a model");
  auto* model = sub->add_option("-m,--model", c->model, "fine-tuning run folder (fratmae finetune)");
  sub->add_option("--floor", c->floor,
                  "instead of a model, a reference floor: suv2.5 or suv4.0 (fixed SUV thresholds inside the body), "
                  "suvmax41 (41% of SUVmax per hot region)")
      ->check(CLI::IsMember({"suv2.5", "suv4.0", "suvmax41"}))
      ->excludes(model);
  sub->add_option("--ct", c->ct, "CT: DICOM folder or file, or an image (HU); not needed by a PET-only model or --floor (with them it finds the body)");
  auto* pet = sub->add_option("--pet", c->pet, "PET: DICOM folder or file (converted to SUV), or an SUV image");
  sub->add_option("--input", c->input,
                  "instead of --pet/--ct, a folder of studies (AutoPET III nnU-Net, AutoPET I/II, fratmae's layout, "
                  "or one DICOM study per sub-folder): OUT/<case>.nii.gz and OUT/<case>/ for each, summary.json")
      ->excludes(pet);
  sub->add_option("--shard", c->shard,
                  "with --input: do shard I of N of the studies (I/N, from 0; default: RANK/WORLD_SIZE, SLURM_PROCID/"
                  "SLURM_NTASKS or a SLURM array's task, else all); the last shard to finish writes summary.json");
  sub->add_option("-o,--out", c->out, "output folder")->required();
  sub->add_option("--device", c->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--bf16", c->bf16, "bf16 autocast on CUDA (true/false)")->capture_default_str();
  sub->add_flag("--tta", c->tta, "flip test-time augmentation (left-right), twice the work");
  sub->add_option("--overlap", c->overlap, "sliding-window overlap (default: the run's test evaluation's)");
  sub->add_option("--batch", c->batch, "windows per forward pass")->capture_default_str();
  sub->add_flag("--probability", c->probability, "also write probability.nii.gz");
  sub->add_flag("--no-report{false}", c->report,
                "no report.html (one page with the PET/CT and the mask in a viewer, the lesion table and the MIP)");
  sub->add_option("--report-max-mb", c->report_max_mb,
                  "report.html embeds the volumes at half resolution when, compressed, they exceed this many MB")
      ->capture_default_str();
  sub->add_flag("--overwrite", c->overwrite, "replace existing outputs (never an input)");
  sub->add_option("--send", c->send,
                  "store SEG.dcm (DICOM PET input, lesions found) to a PACS: AET@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242");
  sub->callback([c] {
    if (!c->input.empty()) {
      const auto s = io::predict_folder(*c);
      spdlog::info("wrote {} ({:.1f} s)", c->out.string(), s["seconds"].get<double>());
      return;
    }
    const auto r = io::predict_study(*c);
    spdlog::info("wrote {} ({:.1f} s, peak memory {:.0f} MiB)", c->out.string(), r["seconds"].get<double>(),
                 r["peak_rss_mib"].get<double>());
  });
}

}  // namespace fratmae::cli
#endif
