// Tests of src/train/run_folder: a failed start does not lock the folder, a resume names what differs.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "test_util.h"
#include "train/run_folder.h"

using namespace fratmae;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}
const json kConfig = {{"train", {{"batch", 4}, {"lr", 0.001}, {"steps", 10}, {"out", "a"}}}, {"model", {{"dim", 64}}}};
}  // namespace

TEST(RunFolder, AFolderWithoutAMetricsLineOrCheckpointHasNotStarted) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  EXPECT_FALSE(train::started_run_config(run));  // no folder
  write(run / "config.json", kConfig.dump());
  EXPECT_FALSE(train::started_run_config(run));  // a failed start: config.json only
  write(run / "metrics.jsonl", "\n");
  EXPECT_FALSE(train::started_run_config(run));  // an empty metrics log
  write(run / "metrics.jsonl", "{\"step\": 1}\n");
  ASSERT_TRUE(train::started_run_config(run));
  EXPECT_EQ(*train::started_run_config(run), kConfig);
  write(run / "config.json", "{not json");
  const std::string m = test::error_message([&] { train::started_run_config(run); });
  EXPECT_NE(m.find("config.json"), std::string::npos) << m;
}

TEST(RunFolder, AFailedStartIsReplacedAndAStartedRunIsKept) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  write(run / "config.json", kConfig.dump());
  // A fresh start and a resume both accept the leftover of a failed start.
  EXPECT_NO_THROW(train::check_run_folder(run, train::started_run_config(run), kConfig, false, {}, "pretrain"));
  EXPECT_NO_THROW(train::check_run_folder(run, train::started_run_config(run), kConfig, true, {}, "pretrain"));
  write(run / "metrics.jsonl", "{\"step\": 1}\n");
  std::string m = test::error_message([&] { train::check_run_folder(run, train::started_run_config(run), kConfig, false, {}, "pretrain"); });
  EXPECT_NE(m.find("already holds a pretrain run (1 metrics lines"), std::string::npos) << m;
  EXPECT_NE(m.find("--resume"), std::string::npos) << m;
  // Nothing to resume at all.
  m = test::error_message([&] { train::check_run_folder(tmp / "none", std::nullopt, kConfig, true, {}, "finetune"); });
  EXPECT_NE(m.find("holds no run to resume"), std::string::npos) << m;
}

TEST(RunFolder, ARefusedResumeNamesEachDifference) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  write(run / "config.json", kConfig.dump());
  write(run / "metrics.jsonl", "{\"step\": 1}\n");
  json now = kConfig;
  now["train"]["steps"] = 30;  // ignored below
  now["train"]["out"] = "b";   // ignored below
  EXPECT_NO_THROW(train::check_run_folder(run, train::started_run_config(run), now, true, {"train.steps", "train.out"}, "x"));
  now["train"]["batch"] = 2;
  now["model"]["depth"] = 3;
  const std::string m = test::error_message(
      [&] { train::check_run_folder(run, train::started_run_config(run), now, true, {"train.steps", "train.out"}, "x"); });
  EXPECT_NE(m.find("train.batch: 4 in the run, 2 now"), std::string::npos) << m;
  EXPECT_NE(m.find("model.depth: (none) in the run, 3 now"), std::string::npos) << m;
  EXPECT_EQ(m.find("train.steps"), std::string::npos) << m;
}

TEST(RunFolder, DifferencesAreCappedAndWholeSectionsCanBeIgnored) {
  json a, b;
  for (int i = 0; i < 10; ++i) a["k" + std::to_string(i)] = i, b["k" + std::to_string(i)] = i + 1;
  a["cache"] = {{"path", "x"}};
  b["cache"] = {{"path", "y"}};
  const auto d = train::config_differences(a, b, {"cache"}, 3);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d.back(), "...");
  EXPECT_TRUE(train::config_differences(a, a, {}).empty());
}

TEST(RunFolder, SettingsAddedLaterTakeTheirFormerBehaviour) {
  const json old = {{"train", {{"batch", 4}}}, {"model", {{"dim", 64}}}};
  const json filled = train::with_settings_added_later(old, {{"/train/scale", 0.1}, {"/head/pool", "mean"}});
  EXPECT_EQ(filled["train"]["scale"], 0.1);
  EXPECT_FALSE(filled.contains("head"));  // no section to add to: left as it was
  // A value the run has is kept, not replaced.
  const json kept = train::with_settings_added_later({{"train", {{"scale", 0.5}}}}, {{"/train/scale", 0.1}});
  EXPECT_EQ(kept["train"]["scale"], 0.5);
  json now = filled;
  EXPECT_TRUE(train::config_differences(filled, now, {}).empty());
  now["train"]["scale"] = 0.3;
  const auto d = train::config_differences(filled, now, {});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], "train.scale: 0.1 in the run, 0.3 now");
}
