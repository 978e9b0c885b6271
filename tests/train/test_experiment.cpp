// `experiment --preset smoke`: every stage of the paper's protocol for a step or two, over two
// fine-tuning seeds, with the reference floors, the paired comparisons and the report in the
// paper's layout; a second run continues instead of redoing.
#include <gtest/gtest.h>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/volume.h"
#include "train/experiment.h"
#include "train/experiment_report.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

TEST(Experiment, SmokePresetWritesTablesFloorsAndPairedComparisons) {
  test::TempDir tmp;
  train::ExperimentConfig cfg;
  cfg.preset = "smoke";
  cfg.out = (tmp / "exp").string();
  cfg.workers = 1;
  const json r = train::run_experiment(cfg);
  EXPECT_EQ(r["seeds"], 2);
  ASSERT_EQ(r["table2"].size(), 2u);
  ASSERT_EQ(r["table3"].size(), 5u);
  EXPECT_EQ(r["table2"][0]["approach"], "axial stacks");
  EXPECT_EQ(r["table3"][4]["setting"], "(5) FratMAE");
  EXPECT_EQ(r["table3"][0]["train_set"], "20%");
  for (const json& row : r["table3"]) {
    for (const char* k : {"dice", "iou"}) {
      EXPECT_TRUE(row["seg"][k].contains("ci_low")) << k;
      EXPECT_EQ(row["seg"][k]["per_seed"].size(), 2u) << k;
    }
    for (const char* k : {"accuracy", "macro_sensitivity"}) EXPECT_TRUE(row["stage"][k].contains("ci_high")) << k;
  }
  // Every seed's run, on the same split.
  for (const char* seed : {"seed0", "seed1"}) {
    const fs::path run = tmp / "exp" / "finetune" / "seg" / "fratmae_20pct" / seed;
    ASSERT_TRUE(fs::exists(run / "test" / "metrics.json")) << run;
    EXPECT_EQ(json::parse(read_file(run / "config.json"))["split"],
              json::parse(read_file(tmp / "exp" / "finetune" / "seg" / "baseline_20pct" / "seed0" / "config.json"))["split"]);
  }
  // Floors scored on the same test cases; the majority class for staging.
  ASSERT_EQ(r["floors"]["seg"].size(), 3u);
  for (const json& k : r["floors"]["seg"]) {
    const json& s = r["settings"][k.get<std::string>()];
    EXPECT_EQ(s["metrics"]["fp_volume_ml"]["n"], r["settings"]["seg/baseline_20pct"]["metrics"]["fp_volume_ml"]["n"]);
  }
  const json& maj = r["settings"]["stage/floor_majority"]["metrics"];
  const double ms = maj["macro_sensitivity"]["value"].get<double>();  // one class always: 1/2 with both present
  EXPECT_TRUE(ms == 0.5 || ms == 1.0 || ms == 0.0) << ms;
  // The learned staging floor: the MLP without an encoder, one run per seed, on the same test cases.
  ASSERT_EQ(r["floors"]["stage"], json::array({"stage/floor_majority", "stage/noencoder_100pct"}));
  {
    const fs::path ne = tmp / "exp" / "finetune" / "stage" / "noencoder_100pct" / "seed1";
    EXPECT_EQ(json::parse(read_file(ne / "config.json"))["head"]["pool"], "input");
    EXPECT_EQ(r["settings"]["stage/noencoder_100pct"]["metrics"]["accuracy"]["per_seed"].size(), 2u);
  }
  // Staging from the segmentation's lesions: a cache of lesion maps of the staging cohort, made by
  // the full-label segmentation model, staged with coronal and axial stacks on the same test cases.
  ASSERT_EQ(r["stage_from_seg"], json::array({"stage/seglesions_100pct", "stage/seglesions_100pct_axial"}));
  {
    const json ci = json::parse(read_file(tmp / "exp" / "caches" / "stage_lesions" / "index.json"));
    const json si = json::parse(read_file(tmp / "exp" / "caches" / "stage" / "index.json"));
    EXPECT_EQ(ci["cases"].size(), si["cases"].size());
    const json lc = json::parse(read_file(tmp / "exp" / "finetune" / "stage" / "seglesions_100pct" / "seed0" / "config.json"));
    EXPECT_EQ(lc["head"]["pool"], "input");
    // The smoke preset's lesion detector is a run of its own (3 steps), named in the report.
    EXPECT_EQ(r["lesion_detector"]["run"], "finetune/lesion_detector");
    EXPECT_EQ(r["lesion_detector"]["steps"], 3);
    EXPECT_EQ(json::parse(read_file(tmp / "exp" / "finetune" / "lesion_detector" / "config.json"))["train"]["steps"], 3);
    EXPECT_EQ(lc["split"], json::parse(read_file(tmp / "exp" / "finetune" / "stage" / "baseline_100pct" / "seed0" /
                                                 "config.json"))["split"]);
  }
  // Paired comparisons: Table 2, Table 3 and the floors, each with an interval and a verdict.
  std::set<std::string> what;
  for (const json& c : r["comparisons"]) {
    what.insert(c["what"].get<std::string>());
    const json& m = c["metrics"][c["task"] == "seg" ? "dice" : "accuracy"];
    EXPECT_TRUE(m.contains("ci_low") && m.contains("verdict")) << c.dump();
  }
  for (const char* w : {"segmentation: coronal - axial stacks (Table 2, 100%)", "segmentation: FratMAE - baseline (20%)",
                        "staging: FratMAE - MAE (20%)", "staging: coronal stacks (100%) - majority class",
                        "staging: FratMAE at 20% - majority class", "staging probe: FratMAE frozen encoders - majority class",
                        "segmentation: full-label baseline - floor 41% of SUVmax per hot region",
                        "staging probe: FratMAE - random frozen encoders", "staging: coronal stacks (100%) - no encoder",
                        "staging: no encoder (100%) - majority class",
                        "staging from the segmentation's lesions (100%) - majority class",
                        "staging from the segmentation's lesions: coronal - axial stacks",
                        "segmentation: baseline - random frozen encoders (20%)"})
    EXPECT_TRUE(what.count(w)) << w;
  ASSERT_EQ(r["probe"].size(), 2u);
  // The segmentation control: the 20% baseline with frozen random encoders, on the segmentation
  // schedule (not the staging probe's), its encoders unchanged by training.
  EXPECT_EQ(r["seg_control"], "seg/probe_baseline_20pct");
  {
    const fs::path control = tmp / "exp" / "finetune" / "seg" / "probe_baseline_20pct" / "seed0";
    const json cc = json::parse(read_file(control / "config.json"));
    EXPECT_TRUE(cc["train"]["freeze_encoders"].get<bool>());
    EXPECT_EQ(cc["task"], "seg");
    EXPECT_EQ(cc["train"]["train_fraction"], 0.2);
    EXPECT_EQ(cc["train"]["steps"], json::parse(read_file(tmp / "exp" / "finetune" / "seg" / "baseline_20pct" / "seed0" /
                                                          "config.json"))["train"]["steps"]);
    EXPECT_EQ(r["settings"]["seg/probe_baseline_20pct"]["metrics"]["dice"]["per_seed"].size(), 2u);
  }
  const std::string md = read_file(tmp / "exp" / "report.md");
  for (const char* s : {"## Findings", "## Table 2", "| 20% | (3) MAE + ContextAlign |", "## Reference floors",
                        "| SUV >= 2.5 in the body |", "| majority class of the training split |",
                        "| no encoder: MLP on the input's regional maxima, 100% |",
                        "## Staging from the segmentation's lesions",
                        "## Frozen-encoder probe", "## Every paired comparison", "detected 0-0.5 mL",
                        "## Segmentation control: does segmentation use its encoders?", "| frozen at random |",
                        "Trained minus frozen: Dice",
                        "**Too small to separate the settings:**"})  // a handful of cases, 2 seeds
    EXPECT_NE(md.find(s), std::string::npos) << s;
  for (const char* p : {"pretrain_loss.svg", "segmentation_examples.png", "finetune_curves_seg.svg",
                        "finetune_curves_stage.svg"})
    EXPECT_TRUE(fs::exists(tmp / "exp" / "pictures" / p)) << p;
  // The example case as volumes for report.html's viewer: CT, SUV and five masks on one grid.
  const SafetensorsFile ex = load_safetensors(tmp / "exp" / "pictures" / train::kExampleCaseFile);
  ASSERT_EQ(ex.tensors.size(), 7u);
  const auto shape = ex.tensors.at("suv").sizes();
  for (const auto& [name, t] : ex.tensors) EXPECT_EQ(t.sizes(), shape) << name;
  EXPECT_EQ(json::parse(ex.metadata.at("masks")).size(), 5u);
  EXPECT_EQ(json::parse(ex.metadata.at("masks"))[2], "full-label baseline (100%)");
  const Geometry g = geometry_from_json(json::parse(ex.metadata.at("geometry")));
  EXPECT_EQ(from_canonical(ex.tensors.at("mask_0"), g).geom, g);  // the tensors fit the source grid
  for (const char* m : {"mae", "mae-align", "fratmae-noalign", "fratmae"})
    EXPECT_TRUE(fs::exists(tmp / "exp" / "pretrain" / m / "checkpoints" / "latest")) << m;

  // Run again: everything finished is kept (same results), nothing is trained twice.
  const fs::path kept = tmp / "exp" / "finetune" / "seg" / "fratmae_20pct" / "seed1" / "test" / "metrics.json";
  const auto t = fs::last_write_time(kept);
  const json again = train::run_experiment(cfg);
  EXPECT_EQ(again["table3"], r["table3"]);
  EXPECT_EQ(again["comparisons"], r["comparisons"]);
  EXPECT_EQ(fs::last_write_time(kept), t);

  cfg.preset = "huge";
  EXPECT_THROW(train::run_experiment(cfg), Error);
}

TEST(ExperimentReport, ResultsOnOtherCasesAreRefusedNamingTheFile) {
  test::TempDir tmp;
  auto write = [&](const std::string& name, const json& cases) {
    fs::create_directories(tmp / name);
    write_file_atomic(tmp / name / "metrics.json", json{{"cases", cases}}.dump());
    return tmp / name / "metrics.json";
  };
  const json a = json::array({{{"case", "A"}, {"dice", 0.5}}, {{"case", "B"}, {"dice", 0.7}}});
  const json b = json::array({{{"case", "A"}, {"dice", 0.4}}, {{"case", "C"}, {"dice", 0.6}}});
  const std::vector<train::SettingSpec> specs{{"seg/x", "seg", "x", {write("x", a)}}, {"seg/y", "seg", "y", {write("y", b)}}};
  try {
    train::aggregate_results(specs, {}, {}, tmp.path());
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("y/metrics.json"), std::string::npos) << e.what();
  }
  // The same cases: a paired difference of 0.1 on each.
  const json c = json::array({{{"case", "A"}, {"dice", 0.4}}, {{"case", "B"}, {"dice", 0.6}}});
  const std::vector<train::SettingSpec> ok{{"seg/x", "seg", "x", {write("x", a)}}, {"seg/z", "seg", "z", {write("z", c)}}};
  const json agg = train::aggregate_results(ok, {{"x - z", "seg/x", "seg/z"}}, {}, tmp.path());
  EXPECT_NEAR(agg["comparisons"][0]["metrics"]["dice"]["value"].get<double>(), 0.1, 1e-12);
  EXPECT_EQ(agg["comparisons"][0]["metrics"]["dice"]["verdict"], "above 0");
  EXPECT_THROW(train::aggregate_results(ok, {{"x - w", "seg/x", "seg/w"}}, {}, tmp.path()), Error);
}

// A claim shown between two models that do not beat the task's floor gets a caveat in the report;
// one whose A beats the floor, one not shown, and one against the floor itself get none.
TEST(ExperimentReport, AClaimBetweenModelsAtTheFloorSaysSo) {
  auto cmp = [](const std::string& a, const std::string& b, double v, double lo, double hi, const std::string& verdict) {
    return json{{"what", a + " - " + b}, {"task", "stage"}, {"a", a}, {"b", b},
                {"metrics", {{"accuracy", {{"value", v}, {"ci_low", lo}, {"ci_high", hi}, {"n", 60}, {"verdict", verdict}}}}}};
  };
  const json coronal_axial = cmp("stage/coronal", "stage/axial", 0.083, 0.017, 0.167, "above 0");
  json all = json::array({coronal_axial, cmp("stage/coronal", "stage/floor_majority", 0.006, -0.139, 0.144, "includes 0")});
  const std::string caveat = train::floor_caveat(all, coronal_axial);
  EXPECT_NE(caveat.find("does not beat the floor"), std::string::npos) << caveat;
  EXPECT_NE(caveat.find("stage/coronal - stage/floor_majority, accuracy +0.006 (-0.139 to +0.144)"), std::string::npos)
      << caveat;
  // A above the floor: no caveat.
  all[1] = cmp("stage/coronal", "stage/floor_majority", 0.1, 0.02, 0.2, "above 0");
  EXPECT_EQ(train::floor_caveat(all, coronal_axial), "");
  // Not shown, or B the floor itself, or no floor comparison of A: nothing to say.
  all[1] = cmp("stage/coronal", "stage/floor_majority", 0.006, -0.139, 0.144, "includes 0");
  EXPECT_EQ(train::floor_caveat(all, cmp("stage/coronal", "stage/axial", 0.05, -0.01, 0.1, "includes 0")), "");
  EXPECT_EQ(train::floor_caveat(all, all[1]), "");
  EXPECT_EQ(train::floor_caveat(json::array({coronal_axial}), coronal_axial), "");
}
