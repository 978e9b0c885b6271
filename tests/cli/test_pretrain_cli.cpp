// `fratmae pretrain` / `fratmae export` as a user runs them, signals included.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "train/checkpoint.h"
#include "train/run_folder.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;
namespace fs = std::filesystem;

namespace {

// A small phantom cohort preprocessed for the tiny preset (whole body 32 x 32 x 48).
const fs::path& tiny_cache() {
  static test::TempDir dir;
  static bool built = false;
  if (!built) {
    auto r = run_fratmae("phantom --out " + quote(dir / "cohort") + " --cases 4 --seed 2");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = run_fratmae("preprocess --data " + quote(dir / "cohort") + " --out " + quote(dir / "cache") +
                    " --size 32 32 48 --no-native");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    built = true;
  }
  static const fs::path cache = dir / "cache";
  return cache;
}

size_t count_lines(const fs::path& p) {
  std::ifstream f(p);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) n += !line.empty();
  return n;
}

// "pretrain --cache <tiny cache> --out OUT --preset tiny": the start of every command below.
std::string pretrain_args(const fs::path& out) {
  return "pretrain --cache " + quote(tiny_cache()) + " --out " + quote(out) + " --preset tiny";
}

}  // namespace

TEST(PretrainCli, TermSignalLeavesALoadableCheckpoint) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  const std::string cmd = test::binary() + " -q pretrain --cache " + quote(tiny_cache()) + " --out " +
                          quote(run) + " --preset tiny --steps 100000 --checkpoint-every 100000 --batch 2 --workers 1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > /dev/null 2>&1").c_str(), nullptr);
    _exit(127);
  }
  // Let it train a few steps, then ask it to stop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_lines(run / "metrics.jsonl") < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(count_lines(run / "metrics.jsonl"), 3u);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  const auto ck = train::latest_checkpoint(run);
  ASSERT_TRUE(ck);
  const auto weights = train::load_checkpoint_weights(*ck);  // verifies sizes and checksums
  EXPECT_GT(weights.size(), 10u);
  const size_t steps = count_lines(run / "metrics.jsonl");
  EXPECT_EQ(ck->filename().string(), "step_" + std::string(7 - std::to_string(steps).size(), '0') + std::to_string(steps));
  // It resumes from there and finishes.
  auto r = run_fratmae("-q " + pretrain_args(run) + " --steps " + std::to_string(steps + 2) +
                       " --batch 2 --workers 1 --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(run / "metrics.jsonl"), steps + 2);
}

// A write that fails for want of room (here a file-size limit, `ulimit -f`, which gives the
// same EFBIG path as a full disk) while a checkpoint is written: a clear error naming the file,
// the previous checkpoint stays the latest and loads, nothing half-written is left, and the run
// resumes from it once there is room.
TEST(PretrainCli, AFullDiskDuringACheckpointKeepsThePreviousOne) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  auto r = run_fratmae("-q " + pretrain_args(run) + " --steps 2 --batch 2 --workers 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto first = train::latest_checkpoint(run);
  ASSERT_TRUE(first);
  // A limit (bytes, util-linux's prlimit) under the weights' size, then one between the weights'
  // and the optimizer state's (LibTorch's own archive writer, which would abort the process).
  const auto weights = fs::file_size(*first / "model.safetensors"), optimizer = fs::file_size(*first / "optimizer.pt");
  ASSERT_GT(optimizer, weights + 2'000'000);
  const std::string step4 = "/checkpoints/step_0000004/";
  for (const auto& [limit, file] : {std::pair{weights / 2, "model.safetensors"}, std::pair{weights + 1'000'000, "optimizer.pt"}}) {
    SCOPED_TRACE(file);
    r = test::run_command("prlimit --fsize=" + std::to_string(limit) + " " + test::binary() + " -q " + pretrain_args(run) +
                          " --steps 4 --batch 2 --workers 1 --resume");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(step4 + file + ": cannot write (File too large)"), std::string::npos) << r.output;
    ASSERT_EQ(train::latest_checkpoint(run), first);
    EXPECT_GT(train::load_checkpoint_weights(*first).size(), 10u);
    for (const auto& e : fs::directory_iterator(run / "checkpoints"))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  r = run_fratmae("-q " + pretrain_args(run) + " --steps 4 --batch 2 --workers 1 --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(train::latest_checkpoint(run)->filename(), "step_0000004");
}

TEST(PretrainCli, TrainsResumesAndExports) {
  test::TempDir tmp;
  const std::string base = "-q " + pretrain_args(tmp / "run") + " --steps 4 --batch 2 --workers 1";
  auto r = run_fratmae(base + " --stop-after 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(tmp / "run/metrics.jsonl"), 2u);
  r = run_fratmae(base);
  EXPECT_NE(r.exit_code, 0) << "the folder already holds a run";
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  r = run_fratmae(base + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(tmp / "run/metrics.jsonl"), 4u);
  r = run_fratmae("export --run " + quote(tmp / "run") + " --out " + quote(tmp / "enc.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(tmp / "enc.safetensors"));
  r = run_fratmae("pretrain --cache /no/such/cache --out " + quote(tmp / "x") + " --preset tiny");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/no/such/cache"), std::string::npos) << r.output;
}

// A start that fails before its first step (here: a batch the cohort cannot fill) leaves its
// config.json behind; the corrected command must still be accepted (issue: the folder was locked,
// and --resume was refused as "different settings").
TEST(PretrainCli, AFailedStartDoesNotLockTheRunFolder) {
  test::TempDir tmp;
  auto cmd = [&](const std::string& run, const std::string& extra) {
    return "-q " + pretrain_args(tmp / run) + " --steps 2 --workers 1 " + extra;
  };
  auto r = run_fratmae(cmd("run", "--batch 8"));  // 4 cases
  ASSERT_NE(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(tmp / "run/config.json")) << "the failed start is expected to leave its settings";
  r = run_fratmae(cmd("run", "--batch 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(tmp / "run/metrics.jsonl"), 2u);
  // The same with --resume after a failed start: it starts afresh.
  r = run_fratmae(cmd("run2", "--batch 8"));
  ASSERT_NE(r.exit_code, 0) << r.output;
  r = run_fratmae(cmd("run2", "--batch 2 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(tmp / "run2/metrics.jsonl"), 2u);
}

// A resume without --steps/--epochs keeps the run's own length (it used to fall back to the
// default 30 epochs), and a refused resume says which setting differs.
TEST(PretrainCli, AResumeKeepsTheRunLengthAndNamesADifferentSetting) {
  test::TempDir tmp;
  const std::string base = "-q " + pretrain_args(tmp / "run") + " --workers 1";
  auto r = run_fratmae(base + " --batch 2 --steps 4 --stop-after 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_fratmae(base + " --batch 1 --resume");
  ASSERT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train.batch: 2 in the run, 1 now"), std::string::npos) << r.output;
  r = run_fratmae(base + " --batch 2 --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_lines(tmp / "run/metrics.jsonl"), 4u);
  EXPECT_NE(train::started_run_config(tmp / "run"), std::nullopt);
  EXPECT_EQ(train::started_run_config(tmp / "run")->at("train").at("steps"), 4);
  // The end-of-run summary compares the first and last tenth of the run, not two single lines.
  r = run_fratmae(pretrain_args(tmp / "summary") + " --workers 1 --batch 2 --steps 3 --log-every 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("over the first tenth -> "), std::string::npos) << r.output;
}

// Issue: `--device cuda:1` printed a 42-line LibTorch dispatcher dump.
TEST(PretrainCli, AMissingGpuIsOneSentence) {
  test::TempDir tmp;
  const auto r = run_fratmae(pretrain_args(tmp / "run") + " --steps 1 --batch 2 --workers 1 --device cuda:7");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("fratmae: error: pretrain: --device cuda:7: "), std::string::npos) << r.output;
  EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  EXPECT_FALSE(fs::exists(tmp / "run" / "config.json"));
  const auto bad = run_fratmae(pretrain_args(tmp / "run") + " --device gpu");
  EXPECT_NE(bad.output.find("give cpu, cuda or cuda:N"), std::string::npos) << bad.output;
}

// Issue #16: two `pretrain` processes into one run folder both ran and both exited 0. Now the
// second is refused naming the first; once the first is killed its lock is taken over.
TEST(PretrainCli, OneWriterPerRunFolder) {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  const std::string args = " " + pretrain_args(run) + " --steps 100000 --checkpoint-every 2 --batch 2 --workers 1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + test::binary() + " -q" + args + " > /dev/null 2>&1").c_str(),
          nullptr);
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!train::latest_checkpoint(run) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(train::latest_checkpoint(run));
  auto r = run_fratmae("-q" + args + " --resume");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is being written by another fratmae (pid " + std::to_string(pid)), std::string::npos)
      << r.output;
  kill(pid, SIGKILL);  // dies holding the lock
  waitpid(pid, nullptr, 0);
  const size_t done = count_lines(run / "metrics.jsonl");
  r = run_fratmae("-q " + pretrain_args(run) + " --steps " + std::to_string(done + 2) +
                  " --checkpoint-every 2 --batch 2 --workers 1 --resume");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}
