#ifdef FRATMAE_WITH_ITK
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "io/evaluate_files.h"

namespace fratmae::cli {

void add_evaluate(CLI::App& app) {
  auto c = std::make_shared<io::EvaluateConfig>();
  CLI::App* sub = app.add_subcommand(
      "evaluate", "Score predicted lesion masks against the truth: Dice, IoU, sensitivity, precision, AutoPET's "
                  "false-positive/negative volumes, with 95% bootstrap intervals; prints a table, writes "
                  "metrics.json, cases.csv and (segmentation) report.html");
  sub->add_option("--pred", c->pred, "predictions: PRED/CASE/SEG.nii.gz (fratmae predict) or PRED/CASE.nii.gz; "
                                     "PRED/CASE/stage.json with --task stage")->required();
  sub->add_option("--truth", c->truth, "truth: TRUTH/CASE/SEG.nii.gz or TRUTH/CASE.nii.gz, or a dataset folder "
                                       "(AutoPET, a phantom cohort: per-tracer results, stages)")->required();
  sub->add_option("--task", c->task, "seg (masks) or stage (stage.json against the metadata's stage)")
      ->check(CLI::IsMember({"seg", "stage"}))
      ->capture_default_str();
  sub->add_option("--metadata", c->metadata, "metadata tables of the truth dataset (default: those in it)");
  sub->add_option("-o,--out", c->out, "output folder (default PRED/evaluation)");
  sub->add_option("--bootstrap", c->bootstrap, "bootstrap samples")->capture_default_str();
  sub->add_option("--seed", c->seed, "bootstrap seed")->capture_default_str();
  sub->add_flag("--overwrite", c->overwrite, "replace existing outputs");
  sub->add_flag("--no-report{false}", c->report,
                "no report.html (segmentation: the tables and the case with the largest truth volume in a viewer)");
  sub->callback([c] {
    const auto r = io::evaluate_folders(*c);
    std::cout << r["cases"].size() << " case(s)\n" << io::summary_table(r["summary"]);
    if (r.contains("by_tracer"))
      for (const auto& [tracer, v] : r["by_tracer"].items())
        std::cout << "\n" << tracer << ": " << v["cases"].get<int64_t>() << " case(s)\n" << io::summary_table(v["summary"]);
    spdlog::info("wrote {}", (c->out.empty() ? c->pred / "evaluation" : c->out).string());
  });
}

}  // namespace fratmae::cli
#endif
