// `fratmae finetune`, `predict` and `evaluate` as a user runs them: a tiny model fine-tuned on a
// phantom cohort, run on the real STS_002 PET/CT (DICOM), its mask checked to lie on the PET grid;
// evaluation against the truth; bad inputs.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/atomic_output.h"
#include "io/convert.h"
#include "io/dicom_seg.h"
#include "io/dicom_series.h"
#include "io/image_io.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path sts002_pet() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/PET/image"; }
fs::path sts002_ct() { return test::data_dir() / "real/ibsi_sts_002_cropped_petct_dicom/CT/image"; }

// A 6-case Hodgkin phantom cohort, its cache, and tiny segmentation and staging runs.
struct Runs {
  test::TempDir dir;
  fs::path cohort, cache, seg, stage;
  static Runs& get() {
    static Runs r;
    return r;
  }

 private:
  Runs() : cohort(dir / "cohort"), cache(dir / "cache"), seg(dir / "seg"), stage(dir / "stage") {
    auto r = run_fratmae("phantom --out " + quote(cohort) + " --cases 6 --seed 8 --cohort hodgkin");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = run_fratmae("preprocess --data " + quote(cohort) + " --out " + quote(cache) + " --size 32 32 48");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // No validation pass (--val-every -1): no test reads it, and it was most of this set-up's time.
    const std::string common = " --cache " + quote(cache) + " --steps 2 --batch 2 --workers 1 --test-fraction 0 --val-every -1 ";
    r = run_fratmae("finetune --task seg --feature-size 4 --out " + quote(seg) + common);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = run_fratmae("finetune --task stage --out " + quote(stage) + common);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
};

}  // namespace

TEST(PredictCli, MaskLiesOnThePetGridOfARealStudy) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  auto r = run_fratmae("predict --model " + quote(runs.seg) + " --ct " + quote(sts002_ct()) + " --pet " +
                       quote(sts002_pet()) + " --out " + quote(tmp / "pred") + " --probability");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"SEG.nii.gz", "probability.nii.gz", "lesions.json", "mip.png", "prediction.json"})
    EXPECT_TRUE(fs::exists(tmp / "pred" / f)) << f;
  // The PET as `convert` writes it, and the mask: the same grid, bit for bit.
  r = run_fratmae("convert --pet-dicom " + quote(sts002_pet()) + " --ct-dicom " + quote(sts002_ct()) + " --out " +
                  quote(tmp / "study"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume suv = io::read_image(tmp / "study" / "SUV.nii.gz");
  const Volume mask = io::read_labels(tmp / "pred" / "SEG.nii.gz");
  EXPECT_TRUE(mask.geom == suv.geom) << mask.geom.to_string() << " vs " << suv.geom.to_string();
  const Volume prob = io::read_image(tmp / "pred" / "probability.nii.gz");
  EXPECT_TRUE(prob.geom == suv.geom);
  EXPECT_TRUE(mask.data.eq(prob.data.gt(0.5)).all().item<bool>());
  const json lesions = json::parse(read_file(tmp / "pred" / "lesions.json"));
  EXPECT_TRUE(lesions.contains("mtv_ml") && lesions.contains("tlg") && lesions.contains("count"));
  // The picture of a small field of view is still big enough to see (issue: 172 x 78 pixels).
  const std::string png = read_file(tmp / "pred" / "mip.png");
  ASSERT_GT(png.size(), 24u);
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_GE(std::max(be32(16), be32(20)), 600u) << be32(16) << " x " << be32(20);
  const json rec = json::parse(read_file(tmp / "pred" / "prediction.json"));
  EXPECT_GT(rec["peak_rss_mib"].get<double>(), 0);
  EXPECT_EQ(rec["task"], "seg");
  // The windows overlap as in the run's own test evaluation (the run's scores describe that).
  const json run_cfg = json::parse(read_file(runs.seg / "config.json"));
  EXPECT_EQ(rec["sliding_window"]["overlap"], run_cfg["train"]["overlap"]);
  EXPECT_EQ(rec["sliding_window"]["body_only"], run_cfg["train"]["body_only"]);
  // Outputs exist: a second run needs --overwrite.
  r = run_fratmae("predict --model " + quote(runs.seg) + " --ct " + quote(sts002_ct()) + " --pet " +
                  quote(sts002_pet()) + " --out " + quote(tmp / "pred"));
  EXPECT_NE(r.exit_code, 0);
}

TEST(PredictCli, StagingModelGivesProbabilities) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const fs::path c = runs.cohort / "HODGKIN_0000";
  auto r = run_fratmae("predict --model " + quote(runs.stage) + " --ct " + quote(c / "CTres.nii.gz") + " --pet " +
                       quote(c / "SUV.nii.gz") + " --out " + quote(tmp / "p"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json s = json::parse(read_file(tmp / "p" / "stage.json"));
  const double a = s["probabilities"]["early (I-II)"], b = s["probabilities"]["advanced (III-IV)"];
  EXPECT_NEAR(a + b, 1.0, 1e-9);
  EXPECT_FALSE(fs::exists(tmp / "p" / "SEG.nii.gz"));
  EXPECT_FALSE(s.contains("warning")) << "a phantom is a whole body";
  // Issue: a staging prediction on a 48-slice crop gave no warning that it is not a whole body.
  r = run_fratmae("predict --model " + quote(runs.stage) + " --ct " + quote(sts002_ct()) + " --pet " +
                  quote(sts002_pet()) + " --out " + quote(tmp / "crop"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("not a whole body"), std::string::npos) << r.output;
  const json crop = json::parse(read_file(tmp / "crop" / "stage.json"));
  EXPECT_NE(crop.value("warning", std::string()).find("mm head to feet"), std::string::npos) << crop.dump(2);
}

TEST(PredictCli, ReferenceFloorSegmentsWithoutAModel) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const fs::path c = runs.cohort / "HODGKIN_0001";
  auto r = run_fratmae("predict --floor suv2.5 --ct " + quote(c / "CTres.nii.gz") + " --pet " + quote(c / "SUV.nii.gz") +
                       " --out " + quote(tmp / "f"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume suv = io::read_image(c / "SUV.nii.gz");
  const Volume mask = io::read_labels(tmp / "f" / "SEG.nii.gz");
  EXPECT_TRUE(mask.geom == suv.geom);
  // SUV >= 2.5 and not in the air around the body.
  const auto hot = suv.data.ge(2.5);
  EXPECT_TRUE(mask.data.ne(0).le(hot).all().item<bool>());
  EXPECT_GT(mask.data.ne(0).sum().item<int64_t>(), 0);
  const json rec = json::parse(read_file(tmp / "f" / "prediction.json"));
  EXPECT_EQ(rec["floor"], "suv2.5");
  EXPECT_TRUE(fs::exists(tmp / "f" / "lesions.json"));
  // Without a CT the whole volume counts as body; 41% of SUVmax keeps no more than SUV >= 2.5.
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(c / "SUV.nii.gz") + " --out " + quote(tmp / "g"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume m41 = io::read_labels(tmp / "g" / "SEG.nii.gz");
  EXPECT_TRUE(m41.data.ne(0).le(hot).all().item<bool>());
  // A floor and a model at once, or an unknown floor: refused, nothing written.
  r = run_fratmae("predict --floor suv4.0 --model " + quote(runs.seg) + " --pet " + quote(c / "SUV.nii.gz") + " --out " +
                  quote(tmp / "h"));
  EXPECT_NE(r.exit_code, 0);
  r = run_fratmae("predict --floor suv3 --pet " + quote(c / "SUV.nii.gz") + " --out " + quote(tmp / "h"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp / "h"));
}

TEST(PredictCli, DicomPetGetsItsLesionsBackAsDicomSeg) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  // The 41%-of-SUVmax floor finds the STS_002 tumour: SEG.dcm holds what SEG.nii.gz holds.
  auto r = run_fratmae("predict --floor suvmax41 --ct " + quote(sts002_ct()) + " --pet " + quote(sts002_pet()) +
                       " --out " + quote(tmp / "f"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json rec = json::parse(read_file(tmp / "f" / "prediction.json"));
  ASSERT_EQ(rec["dicom_seg"]["file"], "SEG.dcm") << rec.dump(2);
  EXPECT_GT(rec["dicom_seg"]["frames"].get<int64_t>(), 0);
  const io::DicomSeries pet = io::pick_series(sts002_pet(), std::nullopt, "PET");
  const Volume nifti = io::read_labels(tmp / "f" / "SEG.nii.gz");
  const io::DicomSegLabels dicom = io::read_dicom_seg(tmp / "f" / "SEG.dcm", nifti.geom, pet.frame_of_reference_uid);
  EXPECT_TRUE(dicom.mask.data.equal(nifti.data.ne(0).to(at::kByte)));
  const auto [errors, report] = test::dciodvfy(tmp / "f" / "SEG.dcm");
  if (errors >= 0) {
    EXPECT_EQ(errors, 0) << report;
  }

  // A NIfTI PET has no DICOM study to return to: no SEG.dcm.
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(runs.cohort / "HODGKIN_0001" / "SUV.nii.gz") + " --out " +
                  quote(tmp / "n"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "n" / "SEG.dcm"));

  // A model that finds nothing writes no SEG (an empty Segmentation is invalid) and says so;
  // one that finds something writes it. The 2-step test model may do either.
  r = run_fratmae("predict --model " + quote(runs.seg) + " --ct " + quote(sts002_ct()) + " --pet " + quote(sts002_pet()) +
                  " --out " + quote(tmp / "m"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json m = json::parse(read_file(tmp / "m" / "prediction.json"));
  if (m["lesions"].get<int64_t>() == 0) {
    EXPECT_FALSE(fs::exists(tmp / "m" / "SEG.dcm"));
    EXPECT_TRUE(m["dicom_seg"]["file"].is_null());
    EXPECT_NE(m["dicom_seg"]["reason"].get<std::string>().find("no lesion found"), std::string::npos);
  } else {
    EXPECT_TRUE(fs::exists(tmp / "m" / "SEG.dcm"));
  }
}

TEST(PredictCli, WholeFolderOfStudies) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  // Two phantom cases (fratmae's layout) and one DICOM study in a sub-folder.
  const fs::path in = tmp / "in";
  fs::create_directories(in);
  for (const char* c : {"HODGKIN_0001", "HODGKIN_0002"})
    fs::copy(runs.cohort / c, in / c, fs::copy_options::recursive);
  fs::create_directories(in / "STS002");
  fs::copy(sts002_pet(), in / "STS002" / "PET", fs::copy_options::recursive);
  fs::copy(sts002_ct(), in / "STS002" / "CT", fs::copy_options::recursive);
  auto r = run_fratmae("predict --floor suv4.0 --input " + quote(in) + " --out " + quote(tmp / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* c : {"HODGKIN_0001", "HODGKIN_0002", "STS002"}) {
    EXPECT_TRUE(fs::exists(tmp / "out" / (std::string(c) + ".nii.gz"))) << c;
    EXPECT_TRUE(fs::exists(tmp / "out" / c / "prediction.json")) << c;
  }
  EXPECT_TRUE(fs::exists(tmp / "out" / "STS002" / "SEG.dcm"));  // the DICOM study gets its SEG back
  json sum = json::parse(read_file(tmp / "out" / "summary.json"));
  EXPECT_EQ(sum["done"], 3);
  EXPECT_EQ(sum["failed"], 0);
  EXPECT_NE(r.output.find("STS002"), std::string::npos) << r.output;  // the table
  // The nnU-Net-named mask is the study's mask; `evaluate` reads the folder against the truth.
  const Volume a = io::read_labels(tmp / "out" / "HODGKIN_0001.nii.gz");
  const Volume b = io::read_labels(tmp / "out" / "HODGKIN_0001" / "SEG.nii.gz");
  EXPECT_TRUE(a.data.equal(b.data));
  fs::create_directories(tmp / "truth");
  for (const char* c : {"HODGKIN_0001", "HODGKIN_0002"})
    fs::copy_file(in / c / "SEG.nii.gz", tmp / "truth" / (std::string(c) + ".nii.gz"));
  r = run_fratmae("evaluate --pred " + quote(tmp / "out") + " --truth " + quote(tmp / "truth") + " --out " +
                  quote(tmp / "ev"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // Run again: everything is skipped. A broken study fails alone, and the command says so.
  fs::create_directories(in / "BROKEN");
  {
    std::ofstream(in / "BROKEN" / "SUV.nii.gz") << "not an image";
  }
  r = run_fratmae("predict --floor suv4.0 --input " + quote(in) + " --out " + quote(tmp / "out"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 of 4 studies failed (BROKEN)"), std::string::npos) << r.output;
  sum = json::parse(read_file(tmp / "out" / "summary.json"));
  EXPECT_EQ(sum["skipped"], 3);
  EXPECT_EQ(sum["failed"], 1);
  bool named = false;
  for (const json& row : sum["studies"])
    if (row["case"] == "BROKEN") named = row["error"].get<std::string>().find("SUV.nii.gz") != std::string::npos;
  EXPECT_TRUE(named) << sum.dump(2);
  EXPECT_FALSE(fs::exists(tmp / "out" / "BROKEN.nii.gz"));

  // A model, loaded once, over the folder; --pet with --input is refused.
  fs::remove_all(in / "BROKEN");
  r = run_fratmae("predict --model " + quote(runs.seg) + " --input " + quote(in) + " --out " + quote(tmp / "m"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(read_file(tmp / "m" / "summary.json"))["done"], 3);
  r = run_fratmae("predict --floor suv4.0 --input " + quote(in) + " --pet " + quote(sts002_pet()) + " --out " +
                  quote(tmp / "x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp / "x"));
}

// Three processes sharing a folder (torchrun's RANK/WORLD_SIZE) write what one process writes,
// and the last to finish merges the shard summaries into summary.json.
TEST(PredictCli, ShardedFolderEqualsOneProcess) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const fs::path in = tmp / "in";
  fs::create_directories(in);
  for (const char* c : {"HODGKIN_0001", "HODGKIN_0002", "HODGKIN_0003", "HODGKIN_0004", "HODGKIN_0005"})
    fs::copy(runs.cohort / c, in / c, fs::copy_options::recursive);
  const std::string args = " predict --floor suvmax41 --input " + quote(in) + " --out ";
  auto r = run_fratmae(args + quote(tmp / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string three = "{ export TORCHELASTIC_RUN_ID=job1 WORLD_SIZE=3; unset SLURM_PROCID SLURM_NTASKS; ";
  for (int i = 0; i < 3; ++i)
    three += "RANK=" + std::to_string(i) + " " + test::binary() + args + quote(tmp / "three") + " & p" + std::to_string(i) + "=$!; ";
  three += "wait $p0 && wait $p1 && wait $p2; }";
  r = test::run_command(three);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& e : fs::directory_iterator(in)) {
    const std::string c = e.path().filename().string();
    EXPECT_EQ(read_file(tmp / "one" / (c + ".nii.gz")), read_file(tmp / "three" / (c + ".nii.gz"))) << c;
  }
  const json one = json::parse(read_file(tmp / "one" / "summary.json"));
  const json merged = json::parse(read_file(tmp / "three" / "summary.json"));
  EXPECT_EQ(merged["shards"], 3);
  EXPECT_EQ(merged["done"], 5);
  ASSERT_EQ(merged["studies"].size(), one["studies"].size());
  for (size_t i = 0; i < one["studies"].size(); ++i)
    for (const char* k : {"case", "status", "lesions", "mtv_ml", "mask"})
      EXPECT_EQ(merged["studies"][i][k], one["studies"][i][k]) << i << " " << k;
  for (int i = 0; i < 3; ++i) {  // each shard's own summary: its studies, round robin
    const json s = json::parse(read_file(tmp / "three" / ("summary-" + std::to_string(i) + "-of-3.json")));
    for (const json& row : s["studies"]) {
      const std::string c = row["case"];
      EXPECT_EQ((std::stoi(c.substr(c.size() - 4)) - 1) % 3, i) << c;
    }
  }

  // --shard by hand: only that shard's studies; a shard of another job is not merged with it.
  r = run_fratmae(args + quote(tmp / "hand") + " --shard 1/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "hand" / "HODGKIN_0002.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp / "hand" / "HODGKIN_0001.nii.gz"));
  EXPECT_FALSE(fs::exists(tmp / "hand" / "summary.json"));  // shard 0 has not run
  r = test::run_command("TORCHELASTIC_RUN_ID=other " + test::binary() + args + quote(tmp / "hand") + " --shard 0/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "hand" / "summary.json")) << "merged with another job's shard";
  r = run_fratmae(args + quote(tmp / "hand") + " --shard 0/2");  // the same job (none) as shard 1's
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(read_file(tmp / "hand" / "summary.json"))["studies"].size(), 5u);
  r = run_fratmae(args + quote(tmp / "bad") + " --shard 2/2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--shard"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bad"));
}

// report.html in a real browser (Debian's chromium, headless, WebGL2 through SwiftShader, driven
// by playwright-core: tests/web/check_report.mjs): it loads from file:// without errors or
// requests, the viewer shows the study, one table row per lesion, a row click moves the viewer
// there, also from volumes embedded at half resolution. --no-report writes none.
TEST(PredictCli, ReportPageInChromium) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const fs::path c = runs.cohort / "HODGKIN_0001";
  auto r = run_fratmae("predict --floor suvmax41 --ct " + quote(c / "CTres.nii.gz") + " --pet " + quote(c / "SUV.nii.gz") +
                       " --out " + quote(tmp / "p"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "p" / "report.html"));
  EXPECT_EQ(read_file(tmp / "p" / "report.html").find("No viewer in this page"), std::string::npos);
  r = test::run_command("node " + quote(test::test_path("web_check")) + " " + quote(tmp / "p" / "report.html") + " " +
                        quote(tmp / "p" / "lesions.json"));
  if (r.exit_code == 77) GTEST_SKIP() << "no browser to test the page in (chromium or playwright-core missing): " << r.output;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A study over --report-max-mb (here any) is embedded at half resolution, says so, and the
  // viewer, the table and the row clicks still agree with lesions.json on the full grid.
  r = run_fratmae("predict --floor suvmax41 --ct " + quote(c / "CTres.nii.gz") + " --pet " + quote(c / "SUV.nii.gz") +
                  " --report-max-mb 0 --out " + quote(tmp / "half"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string full = read_file(tmp / "p" / "report.html"), half = read_file(tmp / "half" / "report.html");
  EXPECT_NE(half.find("embedded at half the resolution"), std::string::npos);
  EXPECT_EQ(full.find("embedded at half the resolution"), std::string::npos);
  EXPECT_LT(half.size(), full.size());
  EXPECT_EQ(json::parse(read_file(tmp / "half" / "lesions.json"))["lesions"],
            json::parse(read_file(tmp / "p" / "lesions.json"))["lesions"]);
  r = test::run_command("node " + quote(test::test_path("web_check")) + " " + quote(tmp / "half" / "report.html") + " " +
                        quote(tmp / "half" / "lesions.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(c / "SUV.nii.gz") + " --report-max-mb -1 --out " + quote(tmp / "neg"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--report-max-mb"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "neg"));
  r = run_fratmae("predict --floor suvmax41 --pet " + quote(c / "SUV.nii.gz") + " --no-report --out " + quote(tmp / "q"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "q" / "report.html"));
  EXPECT_TRUE(fs::exists(tmp / "q" / "SEG.nii.gz"));
}

// Outputs that do not fit (a file-size limit, which fails writes as a full disk does): an error
// naming the file, and the study's former outputs stay as they were, since nothing replaces
// them until every new file is written.
TEST(PredictCli, AFullDiskKeepsTheFormerOutputs) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const fs::path c = runs.cohort / "HODGKIN_0001";
  const std::string cmd = " -q predict --floor suvmax41 --ct " + quote(c / "CTres.nii.gz") + " --pet " +
                          quote(c / "SUV.nii.gz") + " --out " + quote(tmp / "p");
  auto r = run_fratmae(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(tmp / "p")) before[e.path().filename().string()] = read_file(e.path());
  r = test::run_command("prlimit --fsize=32768 " + test::binary() + cmd + " --overwrite");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write"), std::string::npos) << r.output;
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(tmp / "p")) after[e.path().filename().string()] = read_file(e.path());
  EXPECT_TRUE(after == before) << "an output changed, or a temporary file was left";
}

TEST(PredictCli, BadInputsAreRefusedWithoutOutput) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  // A missing PET file: the message names it, nothing is left behind.
  auto r = run_fratmae("predict --model " + quote(runs.seg) + " --ct " + quote(sts002_ct()) + " --pet " +
                       quote(tmp / "missing.nii.gz") + " --out " + quote(tmp / "out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("missing.nii.gz"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  // A folder that is not a fine-tuning run.
  r = run_fratmae("predict --model " + quote(runs.cache) + " --ct " + quote(sts002_ct()) + " --pet " +
                  quote(sts002_pet()) + " --out " + quote(tmp / "out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("fine-tuning run"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "out"));
  // No CT.
  r = run_fratmae("predict --model " + quote(runs.seg) + " --pet " + quote(sts002_pet()) + " --out " + quote(tmp / "out"));
  EXPECT_NE(r.exit_code, 0);
}

namespace {
// The cohort's own masks as a folder of predictions (CASE.nii.gz), for every case of the cohort.
void truth_as_predictions(const fs::path& cohort, const fs::path& pred) {
  fs::create_directories(pred);
  for (const auto& e : fs::directory_iterator(cohort))
    if (fs::exists(e.path() / "SEG.nii.gz")) fs::copy_file(e.path() / "SEG.nii.gz", pred / (e.path().filename().string() + ".nii.gz"));
}
}  // namespace

TEST(EvaluateCli, TruthAgainstItselfScoresOneWithItsPageAndMismatchesAreErrors) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  truth_as_predictions(runs.cohort, tmp / "pred");
  auto r = run_fratmae("evaluate --pred " + quote(tmp / "pred") + " --truth " + quote(runs.cohort) + " --out " +
                       quote(tmp / "eval") + " --bootstrap 100");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("dice"), std::string::npos) << r.output;
  const json m = json::parse(read_file(tmp / "eval" / "metrics.json"));
  EXPECT_EQ(m["cases"].size(), 6u);
  EXPECT_DOUBLE_EQ(m["summary"]["dice"]["value"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["summary"]["fp_volume_ml"]["value"].get<double>(), 0.0);
  EXPECT_TRUE(fs::exists(tmp / "eval" / "cases.csv"));
  // report.html: its two tables rendered, the case with the largest truth volume in the viewer
  // over its PET and CT (the truth is a dataset), the truth and the prediction to choose from.
  const std::string page = read_file(tmp / "eval" / "report.html");
  EXPECT_NE(page.find("## Per case"), std::string::npos);
  EXPECT_NE(page.find("\"name\":\"SUV.nii.gz\""), std::string::npos);  // the dataset's PET under the masks
  r = test::run_command("node " + quote(test::test_path("web_results_check")) + " " + quote(tmp / "eval" / "report.html") +
                        " 2 2");
  if (r.exit_code != 77) EXPECT_EQ(r.exit_code, 0) << r.output;
  else std::cout << "[ skipped ] the page in a browser: chromium or playwright-core missing: " << r.output << "\n";
  r = run_fratmae("evaluate --pred " + quote(tmp / "pred") + " --truth " + quote(runs.cohort) + " --out " +
                  quote(tmp / "bare") + " --bootstrap 50 --no-report");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "bare" / "report.html"));
  EXPECT_TRUE(fs::exists(tmp / "bare" / "metrics.json"));

  // A prediction on another grid.
  test::TempDir tmp2;
  fs::create_directories(tmp2 / "pred");
  for (const auto& e : fs::directory_iterator(tmp / "pred")) fs::copy_file(e.path(), tmp2 / "pred" / e.path().filename());
  Volume v = io::read_labels(tmp2 / "pred" / "HODGKIN_0003.nii.gz");
  v.geom.spacing[0] *= 1.5;
  fs::remove(tmp2 / "pred" / "HODGKIN_0003.nii.gz");
  io::write_image(v, tmp2 / "pred" / "HODGKIN_0003.nii.gz");
  r = run_fratmae("evaluate --pred " + quote(tmp2 / "pred") + " --truth " + quote(runs.cohort) + " --out " +
                  quote(tmp2 / "eval"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("HODGKIN_0003"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp2 / "eval" / "metrics.json"));
  // A missing prediction.
  fs::remove(tmp2 / "pred" / "HODGKIN_0003.nii.gz");
  r = run_fratmae("evaluate --pred " + quote(tmp2 / "pred") + " --truth " + quote(runs.cohort) + " --out " +
                  quote(tmp2 / "eval"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no prediction"), std::string::npos) << r.output;
}

TEST(EvaluateCli, PerTracerOnAnAutoPetLikeCohortAndStagingAgainstTheMetadata) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  // An AutoPET-like phantom cohort (FDG and PSMA): the 41% floor over it, scored per tracer.
  auto r = run_fratmae("phantom --out " + quote(tmp / "ap") + " --cases 6 --seed 11");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("predict --floor suvmax41 --input " + quote(tmp / "ap") + " --out " + quote(tmp / "pred"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("evaluate --pred " + quote(tmp / "pred") + " --truth " + quote(tmp / "ap") + " --out " +
                  quote(tmp / "ev") + " --bootstrap 50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json m = json::parse(read_file(tmp / "ev" / "metrics.json"));
  ASSERT_TRUE(m.contains("by_tracer")) << m.dump(2);
  // Every case's tracer is its metadata.csv row's; the groups add up to the cases.
  std::map<std::string, int> tracers;
  std::ifstream csv(tmp / "ap" / "metadata.csv");
  std::string line;
  std::getline(csv, line);
  const auto header = [&] {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    return cols;
  }();
  const size_t col = std::find(header.begin(), header.end(), "tracer") - header.begin();
  ASSERT_LT(col, header.size()) << line;
  while (std::getline(csv, line)) {
    std::stringstream ss(line);
    std::string c;
    for (size_t i = 0; i <= col; ++i) std::getline(ss, c, ',');
    ++tracers[c];
  }
  int64_t total = 0;
  for (const auto& [tracer, v] : m["by_tracer"].items()) {
    EXPECT_EQ(v["cases"].get<int>(), tracers[tracer]) << tracer;
    total += v["cases"].get<int64_t>();
  }
  EXPECT_EQ(total, static_cast<int64_t>(m["cases"].size()));
  for (const json& c : m["cases"]) EXPECT_FALSE(c["tracer"].is_null()) << c.dump();

  // Staging: the tiny staging model over the Hodgkin cohort, against its metadata's stages.
  r = run_fratmae("predict --model " + quote(runs.stage) + " --input " + quote(runs.cohort) + " --out " +
                  quote(tmp / "stage"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("evaluate --task stage --pred " + quote(tmp / "stage") + " --truth " + quote(runs.cohort) +
                  " --out " + quote(tmp / "sev") + " --bootstrap 50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json s = json::parse(read_file(tmp / "sev" / "metrics.json"));
  ASSERT_EQ(s["cases"].size(), 6u);
  const double acc = s["summary"]["accuracy"]["value"].get<double>();
  int correct = 0;
  for (const json& c : s["cases"]) correct += c["truth"] == c["prediction"];
  EXPECT_DOUBLE_EQ(acc, correct / 6.0);
  EXPECT_EQ(s["truth_counts"]["early (I-II)"].get<int>() + s["truth_counts"]["advanced (III-IV)"].get<int>(), 6);
  // A folder of masks has no stages to score against.
  r = run_fratmae("evaluate --task stage --pred " + quote(tmp / "stage") + " --truth " + quote(tmp / "pred") +
                  " --out " + quote(tmp / "bad"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no dataset with stages"), std::string::npos) << r.output;
}

namespace {
// `sha256sum FILE` (coreutils): an independent reference for the hashes the outputs record.
std::string sha256sum(const fs::path& f) {
  FILE* p = ::popen(("sha256sum " + quote(f)).c_str(), "r");
  char buf[65] = {};
  const size_t n = p ? std::fread(buf, 1, 64, p) : 0;
  if (p) ::pclose(p);
  return std::string(buf, n);
}
// The 80-byte `descrip` of a (gzipped) NIfTI-1 header, at byte 148.
std::string nifti_description(const fs::path& f) {
  gzFile g = gzopen(f.c_str(), "rb");
  char h[348] = {};
  const int n = g ? gzread(g, h, sizeof h) : 0;
  if (g) gzclose(g);
  return n == 348 ? std::string(h + 148, strnlen(h + 148, 80)) : "";
}
}  // namespace

// Issue: prediction.json held only a relative model path; no version, step or weights hash anywhere.
TEST(PredictCli, OutputsRecordWhatMadeThem) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  auto r = run_fratmae("predict --model " + quote(runs.seg) + " --ct " + quote(sts002_ct()) + " --pet " +
                       quote(sts002_pet()) + " --out " + quote(tmp / "pred"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string version = run_fratmae("--version").output.substr(0, run_fratmae("--version").output.find(' ', 8));
  const json rec = json::parse(read_file(tmp / "pred" / "prediction.json"));
  ASSERT_TRUE(rec.contains("provenance")) << rec.dump(2);
  EXPECT_EQ("fratmae " + rec["provenance"]["fratmae_version"].get<std::string>(), version);
  EXPECT_NE(rec["provenance"]["command"].get<std::string>().find("predict --model"), std::string::npos);
  EXPECT_EQ(rec["provenance"]["created"].get<std::string>().size(), 20u);  // 2026-12-02T11:22:33Z
  const fs::path ck = runs.seg / "checkpoints" / rec["model"]["checkpoint"].get<std::string>();
  EXPECT_EQ(fs::path(rec["model"]["run"].get<std::string>()), fs::absolute(runs.seg).lexically_normal());
  EXPECT_EQ(rec["model"]["step"], 2);
  EXPECT_EQ(rec["model"]["weights_sha256"], sha256sum(ck / "model.safetensors"));
  EXPECT_TRUE(fs::path(rec["inputs"]["pet"]["path"].get<std::string>()).is_absolute());
  EXPECT_EQ(rec["inputs"]["pet"]["files"], 48);
  const json lesions = json::parse(read_file(tmp / "pred" / "lesions.json"));
  EXPECT_EQ(lesions["provenance"], rec["provenance"]);
  const std::string descrip = nifti_description(tmp / "pred" / "SEG.nii.gz");
  EXPECT_EQ(descrip.rfind(version + " step 2 sha256:" + sha256sum(ck / "model.safetensors").substr(0, 12), 0), 0u)
      << descrip;
  // The run's own files: config.json and the test evaluation of a run with a test split.
  const json cfg = json::parse(read_file(runs.seg / "config.json"));
  EXPECT_EQ(cfg["provenance"]["fratmae_version"], rec["provenance"]["fratmae_version"]);
  r = run_fratmae("-q finetune --task seg --feature-size 4 --out " + quote(tmp / "run") + " --cache " + quote(runs.cache) +
                  " --steps 1 --batch 2 --workers 1 --test-fraction 0.3 --val-fraction 0 --overlap 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json m = json::parse(read_file(tmp / "run" / "test" / "metrics.json"));
  EXPECT_EQ(m["model"]["step"], 1);
  EXPECT_EQ(m["model"]["weights_sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(m["provenance"].contains("fratmae_version"));
  // convert's study.json: the inputs.
  r = run_fratmae("convert --pet " + quote(sts002_pet()) + " --out " + quote(tmp / "study"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json study = json::parse(read_file(tmp / "study" / "study.json"));
  EXPECT_EQ(study["inputs"]["pet"]["files"], 48);
  EXPECT_TRUE(study["provenance"].contains("command"));
}

// PET-only use (the paper's next step; 2 of the 3 real PET studies here have no CT):
// `finetune --modalities pet` trains the head on the PET encoder alone and `predict` then needs
// only the PET; a model trained on both asks for both, saying so.
TEST(PredictCli, APetOnlyModelPredictsWithoutACt) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  auto r = run_fratmae("-q finetune --task seg --feature-size 4 --modalities pet --out " + quote(tmp / "pet") + " --cache " +
                       quote(runs.cache) + " --steps 2 --batch 2 --workers 1 --test-fraction 0 --val-every -1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json cfg = json::parse(read_file(tmp / "pet" / "config.json"));
  EXPECT_EQ(cfg["head"]["modalities"], "pet");
  // The whole-body STS_001 PET (DICOM, 267 slices, no CT).
  const fs::path sts001 = test::data_dir() / "real/mirp_sts_001_wholebody_fdg_pet/pet_dicom";
  r = run_fratmae("predict --model " + quote(tmp / "pet") + " --pet " + quote(sts001) + " --out " + quote(tmp / "pred") +
                  " --overlap 0");  // windows side by side: the whole-body grid, without a body box, in a few seconds
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae("convert --pet " + quote(sts001) + " --out " + quote(tmp / "study"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Volume suv = io::read_image(tmp / "study" / "SUV.nii.gz");
  const Volume mask = io::read_labels(tmp / "pred" / "SEG.nii.gz");
  EXPECT_TRUE(mask.geom == suv.geom) << mask.geom.to_string() << " vs " << suv.geom.to_string();
  const json rec = json::parse(read_file(tmp / "pred" / "prediction.json"));
  EXPECT_EQ(rec["modalities"], "pet");
  EXPECT_FALSE(rec["inputs"].contains("ct"));
  EXPECT_EQ(rec["sliding_window"]["body_only"], false);
  // A model that reads both is refused without a CT, naming the model and the way out.
  r = run_fratmae("predict --model " + quote(runs.seg) + " --pet " + quote(sts001) + " --out " + quote(tmp / "no"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(runs.seg.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--modalities petct): give --ct"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("finetune --modalities pet"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "no"));
  // The QIN head-and-neck PET (545 slices, no CT; in ../shared when it is beside the checkout).
  const fs::path qin = test::shared_data_dir() / "mirp_qin_headneck_01_0139/pet_dicom";
  if (!fs::exists(qin)) {
    std::cout << "[ note ] the QIN PET is not here (../shared beside the checkout): checked on STS_001 only\n";
    return;
  }
  r = run_fratmae("predict --model " + quote(tmp / "pet") + " --pet " + quote(qin) + " --out " + quote(tmp / "qin") +
                  " --overlap 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "qin" / "SEG.nii.gz"));
  EXPECT_EQ(json::parse(read_file(tmp / "qin" / "prediction.json"))["inputs"]["pet"]["files"], 545);
}

// A segmentation batch of one on the CPU is warned about: LibTorch convolves it with its slow
// native kernel (docs/experiments.md); the batch of two above gets no such warning.
TEST(PredictCli, FinetuningWithABatchOfOneOnTheCpuIsWarnedAbout) {
  auto& runs = Runs::get();
  test::TempDir tmp;
  const std::string common = "finetune --task seg --feature-size 4 --cache " + quote(runs.cache) +
                             " --steps 1 --workers 1 --test-fraction 0 --val-fraction 0 --evaluate false --out ";
  auto r = run_fratmae(common + quote(tmp / "one") + " --batch 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("batch of one"), std::string::npos) << r.output;
  r = run_fratmae(common + quote(tmp / "two") + " --batch 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("batch of one"), std::string::npos) << r.output;
}
