#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "cli/training_options.h"
#include "train/experiment.h"
#ifdef FRATMAE_WITH_ITK
#include "io/experiment_page.h"
#endif

namespace fratmae::cli {

void add_experiment(CLI::App& app) {
  auto c = std::make_shared<train::ExperimentConfig>();
  CLI::App* sub = app.add_subcommand(
      "experiment", "Reproduce the paper's Tables 2 and 3 on phantom cohorts: pre-train every variant, fine-tune "
                    "segmentation and staging, evaluate with bootstrap CIs; writes OUT/report.md, report.json, "
                    "report.html (one page: the tables, the curves, an example case in a viewer), pictures/. Run again "
                    "to continue an interrupted experiment");
  sub->add_option("--preset", c->preset,
                  "demo (a quarter of an hour on a CPU), cpu (the comparison sized for two CPU cores, ~90 min), "
                  "paper (a GPU job) or smoke (a one-minute check)")
      ->check(CLI::IsMember({"demo", "cpu", "paper", "smoke"}))
      ->capture_default_str();
  sub->add_option("-o,--out", c->out, "experiment folder")->required();
  sub->add_option("--device", c->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--bf16", c->bf16, "bf16 autocast on CUDA (true/false)")->capture_default_str();
  sub->add_option("--workers", c->workers, "data-loading threads")->capture_default_str();
  sub->add_option("--seed", c->seed, "seed of the cohorts, splits and training")->capture_default_str();
  sub->add_option("--seeds", c->seeds, "fine-tuning seeds per setting (0: the preset's)")->capture_default_str();
  sub->callback([c] {
    install_stop_signals();
    train::run_experiment(*c);
#ifdef FRATMAE_WITH_ITK
    io::write_experiment_page(c->out);
    spdlog::info("experiment: the report as one page: {}", (std::filesystem::path(c->out) / "report.html").string());
#endif
  });
}

}  // namespace fratmae::cli
