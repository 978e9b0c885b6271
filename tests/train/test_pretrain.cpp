#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "data/cache_writer.h"
#include "data/phantom_source.h"
#include "model/fratmae.h"
#include "train/checkpoint.h"
#include "train/pretrainer.h"
#include "train/schedule.h"
#include "train_test_util.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A 4-case phantom cache (whole body 32 x 32 x 48: tiny-preset coronal stacks 16 x 32 x 48).
const fs::path& tiny_cache() {
  static test::TempDir dir;
  static bool built = false;
  if (!built) {
    test::write_phantom_cache(dir / "cache", "autopet", 4, 3, {32, 32, 48}, /*native=*/false);
    built = true;
  }
  return dir.path();
}

train::PretrainConfig tiny_run(const fs::path& out, int64_t steps) {
  train::PretrainConfig c;
  c.cache = (tiny_cache() / "cache").string();
  c.out = out.string();
  c.preset = "tiny";
  c.steps = steps;
  c.batch = 2;
  c.lr = 1e-3;
  c.warmup_fraction = 0.2;
  c.checkpoint_every = 1000;
  c.workers = 1;
  c.seed = 9;
  return c;
}

std::vector<json> metrics(const fs::path& run) {
  std::vector<json> v;
  std::ifstream f(run / "metrics.jsonl");
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

}  // namespace

TEST(Schedule, WarmupThenCosine) {
  EXPECT_DOUBLE_EQ(train::cosine_lr(0, 100, 10, 1.0, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(train::cosine_lr(9, 100, 10, 1.0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(train::cosine_lr(10, 100, 10, 1.0, 0.0), 1.0);
  EXPECT_NEAR(train::cosine_lr(55, 100, 10, 1.0, 0.0), 0.5, 1e-12);  // halfway through the cosine
  EXPECT_NEAR(train::cosine_lr(100, 100, 10, 1.0, 0.1), 0.1, 1e-12);
}

TEST(Pretrain, ResumeReachesTheSameLossAsAnUninterruptedRun) {
  test::TempDir tmp;
  const auto whole = train::pretrain(tiny_run(tmp / "whole", 6), false);
  EXPECT_EQ(whole.steps_done, 6);
  auto part = tiny_run(tmp / "part", 6);
  part.stop_after = 3;
  const auto first = train::pretrain(part, false);
  EXPECT_EQ(first.steps_done, 3);
  part.stop_after = 0;
  part.resident = true;  // the second half cuts its batches from a resident cache: same batches
  const auto second = train::pretrain(part, /*resume=*/true);
  EXPECT_EQ(second.start_step, 3);
  EXPECT_EQ(second.steps_done, 6);
  const auto a = metrics(tmp / "whole"), b = metrics(tmp / "part");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(a[i]["step"], b[i]["step"]);
    EXPECT_NEAR(a[i]["loss"].get<double>(), b[i]["loss"].get<double>(), 1e-6) << "step " << i + 1;
  }
  // Same final weights.
  const auto wa = train::load_checkpoint_weights(*train::latest_checkpoint(tmp / "whole"));
  const auto wb = train::load_checkpoint_weights(*train::latest_checkpoint(tmp / "part"));
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa)
    EXPECT_TRUE(torch::allclose(t, wb.at(name), 1e-6, 1e-7)) << name << " max diff " << (t - wb.at(name)).abs().max().item<double>();
  EXPECT_TRUE(fs::exists(tmp / "whole/loss.svg"));
  EXPECT_TRUE(fs::exists(tmp / "whole/config.json"));
  // Starting again in the same folder without --resume is refused.
  EXPECT_THROW(train::pretrain(tiny_run(tmp / "whole", 6), false), FileError);
}

TEST(Pretrain, CorruptOrMismatchedCheckpointIsRefused) {
  test::TempDir tmp;
  auto cfg = tiny_run(tmp / "run", 4);
  cfg.stop_after = 2;
  train::pretrain(cfg, false);
  const fs::path ck = *train::latest_checkpoint(tmp / "run");
  const fs::path model = ck / "model.safetensors";
  {  // flip one byte in the middle
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(model) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(model) / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  try {
    train::pretrain(cfg, true);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  fs::resize_file(model, 100);
  try {
    train::pretrain(cfg, true);
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
  }
  // A different method cannot resume this run.
  auto other = cfg;
  other.method = "mae";
  EXPECT_THROW(train::pretrain(other, true), FileError);
}

TEST(Pretrain, ExportHoldsTheEncoders) {
  test::TempDir tmp;
  train::pretrain(tiny_run(tmp / "run", 2), false);
  train::export_encoders(tmp / "run", tmp / "enc.safetensors");
  const SafetensorsFile f = load_safetensors(tmp / "enc.safetensors");
  EXPECT_TRUE(f.tensors.count("pet_encoder.patch_embed.proj.weight"));
  EXPECT_TRUE(f.tensors.count("ct_encoder.blocks.0.attn.q_proj.weight"));
  EXPECT_TRUE(f.tensors.count("text_encoder.token_embedding.weight"));
  for (const auto& [name, t] : f.tensors) EXPECT_EQ(name.find("decoder"), std::string::npos) << name;
  const json model = json::parse(f.metadata.at("model"));
  EXPECT_EQ(model["preset"], "tiny");
}
