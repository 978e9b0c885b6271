#ifdef FRATMAE_WITH_ITK
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "io/phantom_writer.h"

namespace fratmae::cli {

void add_phantom(CLI::App& app) {
  struct Args {
    phantom::PhantomConfig cfg;
    std::string out;
    bool overwrite = false;
    int workers = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "phantom",
      "Write a cohort of synthetic whole-body PET/CT studies with known lesions (AutoPET layout: "
      "<case>/CTres.nii.gz, SUV.nii.gz, SEG.nii.gz, lesions.json, mip.png; metadata.csv)");
  sub->add_option("-o,--out", a->out, "output folder")->required();
  sub->add_option("-n,--cases", a->cfg.cases, "number of cases")->capture_default_str();
  sub->add_option("--seed", a->cfg.seed, "random seed (same seed, same bytes)")->capture_default_str();
  sub->add_option("--preset", a->cfg.preset, "grid: small (5x5x6 mm, for CPUs and tests) or full (2x2x3 mm, AutoPET-like)")
      ->capture_default_str();
  sub->add_option("--cohort", a->cfg.cohort, "autopet (FDG/PSMA mix of AutoPET III) or hodgkin (FDG, Ann Arbor I-IV)")
      ->capture_default_str();
  sub->add_option("--device", a->cfg.device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("-j,--workers", a->workers, "cases generated at once (0 = one per core)")->capture_default_str();
  sub->add_flag("--overwrite", a->overwrite, "replace an existing cohort in --out");
  sub->callback([a] {
    a->cfg.validate();
    io::write_phantom_cohort(a->cfg, a->out, a->overwrite, a->workers);
    spdlog::info("wrote {} {} case(s) to {} (metadata.csv, per case NIfTI, lesions.json, mip.png)",
                 a->cfg.cases, a->cfg.cohort, a->out);
  });
}

}  // namespace fratmae::cli
#endif
