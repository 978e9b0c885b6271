// `experiment --preset smoke`: every stage of the paper's protocol for a step or two, the
// report in the paper's layout, and a second run that continues instead of redoing.
#include <gtest/gtest.h>

#include "core/atomic_output.h"
#include "core/error.h"
#include "train/experiment.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

TEST(Experiment, SmokePresetWritesBothTablesWithIntervals) {
  test::TempDir tmp;
  train::ExperimentConfig cfg;
  cfg.preset = "smoke";
  cfg.out = (tmp / "exp").string();
  cfg.workers = 1;
  const json r = train::run_experiment(cfg);
  ASSERT_EQ(r["table2"].size(), 2u);
  ASSERT_EQ(r["table3"].size(), 5u);
  EXPECT_EQ(r["table2"][0]["approach"], "axial stacks");
  EXPECT_EQ(r["table3"][4]["setting"], "(5) FratMAE");
  EXPECT_EQ(r["table3"][0]["train_set"], "20%");
  for (const json& row : r["table3"]) {
    for (const char* k : {"dice", "iou"}) EXPECT_TRUE(row["seg"][k].contains("ci_low")) << k;
    for (const char* k : {"accuracy", "macro_sensitivity"}) EXPECT_TRUE(row["stage"][k].contains("ci_high")) << k;
  }
  const std::string md = read_file(tmp / "exp" / "report.md");
  EXPECT_NE(md.find("## Table 2"), std::string::npos);
  EXPECT_NE(md.find("| 20% | (3) MAE + ContextAlign |"), std::string::npos);
  EXPECT_TRUE(fs::exists(tmp / "exp" / "report.json"));
  EXPECT_TRUE(fs::exists(tmp / "exp" / "pictures" / "pretrain_loss.svg"));
  EXPECT_TRUE(fs::exists(tmp / "exp" / "pictures" / "segmentation_examples.png"));
  for (const char* m : {"mae", "mae-align", "fratmae-noalign", "fratmae"})
    EXPECT_TRUE(fs::exists(tmp / "exp" / "pretrain" / m / "checkpoints" / "latest")) << m;

  // Run again: everything finished is kept (same results), nothing is trained twice.
  const auto t = fs::last_write_time(tmp / "exp" / "finetune" / "seg" / "fratmae_20pct" / "test" / "metrics.json");
  const json again = train::run_experiment(cfg);
  EXPECT_EQ(again["table3"], r["table3"]);
  EXPECT_EQ(fs::last_write_time(tmp / "exp" / "finetune" / "seg" / "fratmae_20pct" / "test" / "metrics.json"), t);

  cfg.preset = "huge";
  EXPECT_THROW(train::run_experiment(cfg), Error);
}
