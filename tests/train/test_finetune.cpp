// Fine-tuning: the Dice + CE loss, encoder initialisation from a pre-training run, a tiny
// segmentation and staging run end to end with their test-split evaluation, resume.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/atomic_output.h"
#include "core/error.h"
#include "infer/cache_eval.h"
#include "train/encoder_init.h"
#include "train/finetuner.h"
#include "train/pretrainer.h"
#include "train/run_util.h"
#include "train/seg_loss.h"
#include "test_util.h"
#include "train_test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// 8 Hodgkin phantom cases (every case has lesions and a stage), whole body 32 x 32 x 48 and
// native copies: tiny-preset inputs for both tasks.
const fs::path& cache_dir() {
  static test::TempDir dir;
  static bool built = false;
  if (!built) {
    test::write_phantom_cache(dir / "cache", "hodgkin", 8, 4, {32, 32, 48}, /*native=*/true);
    built = true;
  }
  static const fs::path p = dir / "cache";
  return p;
}

train::FinetuneConfig tiny_finetune(const std::string& task, const fs::path& out, int64_t steps) {
  train::FinetuneConfig c;
  c.task = task;
  c.cache = cache_dir().string();
  c.out = out.string();
  c.preset = "tiny";
  c.steps = steps;
  c.batch = 2;
  c.lr = 1e-3;
  c.feature_size = 4;
  c.test_fraction = 0.25;
  c.val_fraction = 0.125;
  c.val_every = 2;
  c.workers = 1;
  c.bootstrap = 50;
  c.log_every = 1;
  c.overlap = 0.0;
  return c;
}

}  // namespace

TEST(SegLoss, PerfectAndWorstPredictions) {
  auto truth = torch::zeros({2, 1, 4, 4, 4}, torch::kByte);
  truth[0][0][1][1][1] = 1;
  truth[1][0][2][2][2] = 1;
  const auto onehot = torch::cat({1 - truth, truth}, 1).to(torch::kFloat);
  const auto perfect = train::dice_ce_loss(onehot * 40 - 20, truth);  // logits +-20
  EXPECT_NEAR(perfect.dice.item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(perfect.ce.item<double>(), 0.0, 1e-6);
  const auto worst = train::dice_ce_loss((1 - onehot) * 40 - 20, truth);
  EXPECT_NEAR(worst.dice.item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(worst.ce.item<double>(), 40.0, 1e-3);
  // Uniform logits: p = 1/2 everywhere; batch foreground Dice = 2 * (2 * 0.5) / (64 + 2).
  const auto uniform = train::dice_ce_loss(torch::zeros({2, 2, 4, 4, 4}), truth);
  EXPECT_NEAR(uniform.dice.item<double>(), 1.0 - 2.0 / 66.0, 1e-5);
  EXPECT_NEAR(uniform.ce.item<double>(), std::log(2.0), 1e-6);
}

TEST(SegLoss, GradientMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto truth = torch::randint(0, 2, {1, 1, 3, 3, 3}).to(torch::kByte);
  auto logits = torch::randn({1, 2, 3, 3, 3}, torch::kDouble).requires_grad_(true);
  train::dice_ce_loss(logits, truth).loss.backward();
  const auto g = logits.grad().clone();
  const double eps = 1e-6;
  for (int64_t i : {0, 13, 40}) {
    auto flat = logits.detach().clone().view(-1);
    flat[i] += eps;
    const double up = train::dice_ce_loss(flat.view({1, 2, 3, 3, 3}), truth).loss.item<double>();
    flat[i] -= 2 * eps;
    const double down = train::dice_ce_loss(flat.view({1, 2, 3, 3, 3}), truth).loss.item<double>();
    EXPECT_NEAR(g.view(-1)[i].item<double>(), (up - down) / (2 * eps), 1e-6);
  }
}

// Deep supervision: level l is scored against the truth pooled by 2^l by majority, weights 1,
// 1/2, 1/4 normalised; the reported dice and ce are level 0's.
TEST(SegLoss, DeepSupervisionWeighsThePooledLevels) {
  torch::manual_seed(4);
  auto truth = torch::zeros({2, 1, 8, 8, 8}, torch::kByte);
  truth[0][0][1][2][3] = 1;                                        // one voxel: gone at every coarse level
  truth[0][0].narrow(0, 4, 4).narrow(1, 4, 4).narrow(2, 0, 2).fill_(1);  // a bar: 4 x 4 x 2 voxels
  truth[1][0].narrow(0, 4, 4).fill_(1);                            // a slab
  const std::vector<torch::Tensor> logits{torch::randn({2, 2, 8, 8, 8}), torch::randn({2, 2, 4, 4, 4}),
                                          torch::randn({2, 2, 2, 2, 2})};
  // The pooled truths written out by hand: level 1 (4^3) and level 2 (2^3). The bar fills its
  // level-1 voxels and half of one level-2 voxel (32 of 64 voxels: a majority tie counts).
  auto t1 = torch::zeros({2, 1, 4, 4, 4}, torch::kByte), t2 = torch::zeros({2, 1, 2, 2, 2}, torch::kByte);
  t1[0][0].narrow(0, 2, 2).narrow(1, 2, 2).narrow(2, 0, 1).fill_(1);
  t1[1][0].narrow(0, 2, 2).fill_(1);
  t2[0][0][1][1][0] = 1;
  t2[1][0].narrow(0, 1, 1).fill_(1);
  const auto l0 = train::dice_ce_loss(logits[0], truth), l1 = train::dice_ce_loss(logits[1], t1),
             l2 = train::dice_ce_loss(logits[2], t2);
  const auto ds = train::deep_supervision_loss(logits, truth);
  const double want = (l0.loss.item<double>() + 0.5 * l1.loss.item<double>() + 0.25 * l2.loss.item<double>()) / 1.75;
  EXPECT_NEAR(ds.loss.item<double>(), want, 1e-6);
  EXPECT_NEAR(ds.dice.item<double>(), l0.dice.item<double>(), 1e-7);
  EXPECT_NEAR(ds.ce.item<double>(), l0.ce.item<double>(), 1e-7);
  // One level is dice_ce_loss itself; a level of the wrong shape is an error, not a broadcast.
  EXPECT_NEAR(train::deep_supervision_loss({logits[0]}, truth).loss.item<double>(), l0.loss.item<double>(), 1e-7);
  EXPECT_THROW(train::deep_supervision_loss({logits[0], logits[2]}, truth), c10::Error);
}

TEST(SegLoss, DeepSupervisionGradientMatchesFiniteDifferences) {
  torch::manual_seed(5);
  auto truth = torch::randint(0, 2, {1, 1, 4, 4, 4}).to(torch::kByte);
  auto fine = torch::randn({1, 2, 4, 4, 4}, torch::kDouble).requires_grad_(true);
  auto coarse = torch::randn({1, 2, 2, 2, 2}, torch::kDouble).requires_grad_(true);
  train::deep_supervision_loss({fine, coarse}, truth).loss.backward();
  const double eps = 1e-6;
  for (auto* t : {&fine, &coarse}) {
    const auto g = t->grad().clone();
    for (int64_t i : {0, 7, 11}) {
      auto f = t->detach().clone();
      auto score = [&] {
        return train::deep_supervision_loss({t == &fine ? f : fine.detach(), t == &coarse ? f : coarse.detach()}, truth)
            .loss.item<double>();
      };
      f.view(-1)[i] += eps;
      const double up = score();
      f.view(-1)[i] -= 2 * eps;
      const double down = score();
      EXPECT_NEAR(g.view(-1)[i].item<double>(), (up - down) / (2 * eps), 1e-6);
    }
  }
}

TEST(Finetune, SegmentationRunsEvaluatesAndResumes) {
  test::TempDir tmp;
  const auto r = train::finetune(tiny_finetune("seg", tmp / "seg", 4), false);
  EXPECT_EQ(r.steps_done, 4);
  const json cfg = json::parse(read_file(tmp / "seg" / "config.json"));
  EXPECT_EQ(cfg["model"]["input"], (std::vector<int64_t>{16, 32, 48}));
  EXPECT_EQ(cfg["split"]["test"].size(), 2u);
  EXPECT_EQ(cfg["split"]["val"].size(), 1u);
  EXPECT_EQ(cfg["split"]["train"].size(), 5u);
  // Validation scores every --val-every steps (the learning curve), none in between.
  int val_lines = 0;
  for (const json& line : train::read_metrics(tmp / "seg" / "metrics.jsonl", 100)) {
    const bool has = line.contains("val_fp_volume_ml");
    EXPECT_EQ(has, line["step"].get<int64_t>() % 2 == 0) << line.dump();
    if (has) {
      EXPECT_TRUE(line.contains("val_dice") && line.contains("val_pred_lesions"));
      ++val_lines;
    }
  }
  EXPECT_EQ(val_lines, 2);
  const json m = json::parse(read_file(tmp / "seg" / "test" / "metrics.json"));
  EXPECT_EQ(m["detection_by_size"].size(), 4u);
  EXPECT_EQ(m["cases"].size(), 2u);
  EXPECT_TRUE(m["summary"].contains("dice"));
  EXPECT_TRUE(fs::exists(tmp / "seg" / "test" / "cases.csv"));
  EXPECT_TRUE(fs::exists(tmp / "seg" / "loss.svg"));
  // A second start on the same folder is refused; --resume to more steps continues from 4.
  EXPECT_THROW(train::finetune(tiny_finetune("seg", tmp / "seg", 4), false), Error);
  const auto r2 = train::finetune(tiny_finetune("seg", tmp / "seg", 6), true);
  EXPECT_EQ(r2.start_step, 4);
  EXPECT_EQ(r2.steps_done, 6);
  // The fine-tuned model loads for inference.
  auto dm = train::load_finetuned(tmp / "seg");
  ASSERT_TRUE(dm.seg);
  EXPECT_EQ(dm.task, "seg");
}

// A 3-step segmentation run with one head option switched on (`set` sets it): the run records
// `head_key` true in its head and loads back (strict loading would refuse a checkpoint whose
// modules the rebuilt network lacks).
static train::DownstreamModel seg_run_with(const fs::path& out, const char* head_key,
                                          const std::function<void(train::FinetuneConfig&)>& set) {
  auto c = tiny_finetune("seg", out, 3);
  set(c);
  c.evaluate = false;
  train::finetune(c, false);
  EXPECT_TRUE(json::parse(read_file(out / "config.json"))["head"][head_key].get<bool>()) << head_key;
  auto dm = train::load_finetuned(out);
  EXPECT_TRUE(dm.seg);
  return dm;
}

// Deep supervision: the run loads with its aux heads.
TEST(Finetune, DeepSupervisionRunLoadsWithItsAuxHeads) {
  test::TempDir tmp;
  auto dm = seg_run_with(tmp / "ds", "deep_supervision", [](train::FinetuneConfig& c) { c.deep_supervision = true; });
  ASSERT_TRUE(dm.seg);
  ASSERT_TRUE(dm.seg->aux_heads);
  EXPECT_EQ(dm.seg->aux_heads->size(), 2u);
}

// The same for the convolutional encoder; and the flags it cannot go with are refused.
TEST(Finetune, ConvEncoderRunLoadsWithItsDownBlocks) {
  test::TempDir tmp;
  auto dm = seg_run_with(tmp / "ce", "conv_encoder", [](train::FinetuneConfig& c) { c.conv_encoder = true; });
  ASSERT_TRUE(dm.seg);
  ASSERT_TRUE(dm.seg->down_blocks);
  // predict's path: sliding windows with the run's own settings over a volume that is no multiple
  // of the window (padded windows, several per axis).
  torch::manual_seed(3);
  const auto r = infer::segment_volume(dm.seg, torch::randn({20, 40, 50}), torch::rand({20, 40, 50}),
                                       train::evaluation_windows(dm), torch::Device("cpu"), false);
  EXPECT_EQ(r.mask.sizes(), (std::vector<int64_t>{20, 40, 50}));
  EXPECT_GT(r.windows, 1);
  auto bad = tiny_finetune("seg", tmp / "bad", 3);
  bad.conv_encoder = true;
  bad.input_skip = false;
  EXPECT_NE(test::error_message([&] { bad.validate(); }).find("--input-skip true"), std::string::npos);
  bad = tiny_finetune("stage", tmp / "bad", 3);
  bad.conv_encoder = true;
  EXPECT_NE(test::error_message([&] { bad.validate(); }).find("--conv-encoder"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(tmp / "bad"));
}

// A run started by an older fratmae lacks the settings added since in its config.json: it
// resumes when they keep their old behaviour, and a setting that changes it is named.
TEST(Finetune, ARunStartedBeforeASettingExistedResumes) {
  test::TempDir tmp;
  auto c = tiny_finetune("seg", tmp / "old", 2);
  c.evaluate = false;
  train::finetune(c, false);
  json cfg = json::parse(read_file(tmp / "old" / "config.json"));
  for (const char* k : {"intensity_scale", "lesion_centred", "deep_supervision", "encoder_lr_scale", "input_skip", "conv_encoder"})
    cfg["train"].erase(k);
  std::ofstream(tmp / "old" / "config.json") << cfg.dump(2);
  c.intensity_scale = 0.3;  // not what the run was trained with: named
  c.steps = 3;
  const std::string m = test::error_message([&] { train::finetune(c, true); });
  EXPECT_NE(m.find("train.intensity_scale: 0.1 in the run, 0.3 now"), std::string::npos) << m;
  c.intensity_scale = 0.1;
  const auto r = train::finetune(c, true);
  EXPECT_EQ(r.start_step, 2);
  EXPECT_EQ(r.steps_done, 3);
}

TEST(Finetune, StagingFromAPretrainingRunStartsFromItsEncoders) {
  test::TempDir tmp;
  train::PretrainConfig pc;
  pc.cache = cache_dir().string();
  pc.out = (tmp / "pre").string();
  pc.preset = "tiny";
  pc.steps = 2;
  pc.batch = 2;
  pc.workers = 1;
  train::pretrain(pc, false);
  const auto pre = train::read_pretrained_encoders(tmp / "pre");
  EXPECT_EQ(pre.config.encoder.dim, 64);

  // Loading copies every encoder weight (not the position embeddings, recomputed per grid).
  auto dm = train::make_downstream("stage", pre.config, 16, 32);
  train::load_pretrained_encoders(dm.module(), pre);
  for (const auto& p : dm.module().named_parameters())
    if (p.key().rfind("pet_encoder.", 0) == 0)
      EXPECT_TRUE(torch::equal(p.value(), pre.weights.at(p.key()))) << p.key();

  // A PET-only network takes the PET encoder and leaves the CT encoder of the pre-training out.
  auto pet_only = train::make_downstream("stage", pre.config, 16, 32, "mean", "pet");
  train::load_pretrained_encoders(pet_only.module(), pre);
  size_t copied = 0;
  for (const auto& p : pet_only.module().named_parameters()) {
    EXPECT_NE(p.key().rfind("ct_encoder.", 0), 0u) << p.key();
    if (p.key().rfind("pet_encoder.", 0) == 0 && pre.weights.count(p.key()))
      copied += torch::equal(p.value(), pre.weights.at(p.key()));
  }
  EXPECT_GT(copied, 10u);

  auto fc = tiny_finetune("stage", tmp / "stage", 3);
  fc.init = (tmp / "pre").string();
  const auto r = train::finetune(fc, false);
  EXPECT_EQ(r.steps_done, 3);
  const json m = json::parse(read_file(tmp / "stage" / "test" / "metrics.json"));
  EXPECT_EQ(m["cases"].size(), 2u);
  EXPECT_TRUE(m["summary"].contains("accuracy"));
  EXPECT_TRUE(m["summary"].contains("macro_sensitivity"));
  const json cfg = json::parse(read_file(tmp / "stage" / "config.json"));
  EXPECT_EQ(cfg["init"]["method"], "fratmae");

  // Frozen encoders stay what the pre-training made them; the head learns.
  auto frozen = tiny_finetune("stage", tmp / "frozen", 2);
  frozen.init = (tmp / "pre").string();
  frozen.freeze_encoders = true;
  frozen.evaluate = false;
  train::finetune(frozen, false);
  auto fz = train::load_finetuned(tmp / "frozen");
  for (const auto& p : fz.module().named_parameters())
    if (p.key().rfind("ct_encoder.", 0) == 0) EXPECT_TRUE(torch::equal(p.value(), pre.weights.at(p.key()))) << p.key();

  // An init that is not a run, and a fraction leaving fewer cases than a batch, are refused.
  fc.out = (tmp / "bad").string();
  fc.init = (tmp / "nothing").string();
  EXPECT_THROW(train::finetune(fc, false), FileError);
  fc.init.clear();
  fc.train_fraction = 0.1;
  fc.batch = 2;
  EXPECT_THROW(train::finetune(fc, false), FileError);
}

// --pool input: the baseline without an encoder trains, evaluates and loads back like any staging
// run; options that act on encoders are refused with it.
TEST(Finetune, StagingWithoutAnEncoderIsARunLikeAnyOther) {
  test::TempDir tmp;
  auto fc = tiny_finetune("stage", tmp / "input", 3);
  fc.pool = "input";
  const auto r = train::finetune(fc, false);
  EXPECT_EQ(r.steps_done, 3);
  const json m = json::parse(read_file(tmp / "input" / "test" / "metrics.json"));
  EXPECT_TRUE(m["summary"].contains("macro_sensitivity"));
  auto dm = train::load_finetuned(tmp / "input");
  EXPECT_FALSE(dm.stage->pet_encoder || dm.stage->ct_encoder);
  EXPECT_EQ(json::parse(read_file(tmp / "input" / "config.json"))["head"]["pool"], "input");
  fc.out = (tmp / "frozen").string();
  fc.freeze_encoders = true;
  EXPECT_THROW(train::finetune(fc, false), Error);
  EXPECT_FALSE(fs::exists(tmp / "frozen"));
}

TEST(Finetune, AxialStacksChangeTheInputShape) {
  test::TempDir tmp;
  auto fc = tiny_finetune("seg", tmp / "axial", 1);
  fc.stack = "axial";
  fc.evaluate = false;
  train::finetune(fc, false);
  const json cfg = json::parse(read_file(tmp / "axial" / "config.json"));
  EXPECT_EQ(cfg["model"]["input"], (std::vector<int64_t>{32, 32, 16}));
}

// --input sets the segmentation crop whatever the init's own input, so that runs from different
// pre-trainings (or none) are compared on the same windows; bad sizes are refused.
TEST(Finetune, SegmentationInputIsTheGivenCrop) {
  test::TempDir tmp;
  auto fc = tiny_finetune("seg", tmp / "in", 1);
  fc.input = {8, 16, 32};
  fc.evaluate = false;
  train::finetune(fc, false);
  const json cfg = json::parse(read_file(tmp / "in" / "config.json"));
  EXPECT_EQ(cfg["model"]["input"], (std::vector<int64_t>{8, 16, 32}));
  EXPECT_EQ(cfg["train"]["input"], (std::vector<int64_t>{8, 16, 32}));
  EXPECT_EQ(cfg["train"]["intensity_scale"], 0.1);  // the augmentation's jitter, recorded
  fc.out = (tmp / "bad").string();
  for (double s : {-0.1, 1.0}) {  // --intensity-scale outside [0, 1)
    auto bad = fc;
    bad.input = {8, 16, 32};
    bad.intensity_scale = s;
    try {
      train::finetune(bad, false);
      ADD_FAILURE() << "intensity scale " << s << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--intensity-scale"), std::string::npos) << e.what();
    }
  }
  fc.input = {8, 0, 32};
  EXPECT_THROW(train::finetune(fc, false), Error);
  fc.input = {8, 12, 32};  // not a multiple of the patch (8)
  EXPECT_THROW(train::finetune(fc, false), Error);
}
