// data_device_check: the GPU-resident data path against the CPU one, and its throughput.
//
//   data_device_check [DEVICE=cuda] [CASES=8] [CACHE_DIR]
//
// Builds (or reuses) a cache of a `small` phantom cohort at the paper's 160 x 160 x 192, then
//   1. coronal, axial, staging and segmentation batches from a cache held on DEVICE equal
//      the CPU workers' batches (same seeds) to float rounding;
//   2. samples/s of the pre-training loader: resident on DEVICE (batch 24, the paper's total),
//      and CPU workers (one per core) with the copy to DEVICE.
// Exit status 0 when every check passes; prints "SKIP" and exits 0 without that device.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "data/cache_writer.h"
#include "data/loader.h"
#include "data/phantom_source.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

bool close(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes().equals(b.sizes()) && at::allclose(a.cpu(), b.cpu(), 1e-5, 1e-6);
}

void compare(std::shared_ptr<const data::Cache> cache, data::LoaderConfig cfg, const std::string& device,
             const std::string& name) {
  cfg.workers = 2;
  data::BatchLoader cpu(cache, data::all_cases(*cache), cfg);
  cfg.resident = true;
  cfg.device = device;
  data::BatchLoader dev(cache, data::all_cases(*cache), cfg);
  bool ok = true;
  for (int64_t step = 0; step < std::min<int64_t>(3, cpu.batches_per_epoch()); ++step) {
    const data::Batch a = cpu.batch_at(1, step), b = dev.batch_at(1, step);
    const bool on_device = b.ct.device().type() == at::Device(device).type();
    const bool images = close(a.ct, b.ct) && close(a.pet, b.pet);
    const bool labels = at::equal(a.text_ids, b.text_ids.cpu()) && at::equal(a.stage_label, b.stage_label.cpu());
    const bool seg = a.seg.defined() == b.seg.defined() && (!a.seg.defined() || at::equal(a.seg, b.seg.cpu()));
    if (!(on_device && images && labels && seg))
      std::printf("  step %lld: on device %d, images %d (max |diff| ct %g), ids/labels %d, seg %d\n",
                  static_cast<long long>(step), on_device, images,
                  a.ct.sizes().equals(b.ct.sizes()) ? (a.ct - b.ct.cpu()).abs().max().item<double>() : -1.0, labels, seg);
    ok = ok && on_device && images && labels && seg;
    // The CPU batch copied to the device (non-blocking) arrives whole.
    const data::Batch moved = a.to(at::Device(device), /*non_blocking=*/true);
    ok = ok && at::equal(moved.ct.cpu(), a.ct);
  }
  check(ok, name + ": " + device + "-resident batches equal the CPU workers' batches");
}

double samples_per_second(data::BatchLoader& loader, const std::string& device, int batches) {
  loader.start_epoch(0);
  at::Tensor sink = at::zeros({}, at::TensorOptions().device(device));
  int64_t n = 0, epoch = 0;
  auto next = [&] {
    auto b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    return *b;
  };
  // Warm-up long enough for the loader's buffers to be recycled (steady state).
  for (int i = 0; i < 3 + loader.config().prefetch + loader.config().workers + 4; ++i)
    sink += next().to(at::Device(device), true).ct.sum();
  sink.item<float>();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batches; ++i) {
    const data::Batch b = next().to(at::Device(device), true);
    if (!b.ct.device().is_cpu()) sink += b.ct.mean() + b.pet.mean();  // CPU: take the batch, nothing more
    n += b.size();
  }
  sink.item<float>();  // waits for the device
  return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string device = argc > 1 ? argv[1] : "cuda";
  const int64_t cases = argc > 2 ? std::stoll(argv[2]) : 8;
  const fs::path dir = argc > 3 ? fs::path(argv[3]) : fs::temp_directory_path() / "fratmae-device-check-cache";
  if (at::Device(device).is_cuda() && !at::hasCUDA()) {
    std::printf("SKIP no CUDA device in this LibTorch build\n");
    return 0;
  }
  try {
    phantom::PhantomConfig pc;
    pc.cases = cases;
    pc.cohort = "hodgkin";  // stages and lesions in every case
    const auto t0 = std::chrono::steady_clock::now();
    data::CacheWriter w(dir, data::CacheSettings{});
    data::BuildOptions opt;
    opt.show_progress = false;
    const data::BuildReport r = data::build_cache(w, data::phantom_jobs(pc), opt);
    std::printf("cache: %lld cases (%lld built) in %.1f s, %u cores\n", static_cast<long long>(r.total_in_cache),
                static_cast<long long>(r.processed),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                std::thread::hardware_concurrency());
    std::shared_ptr<const data::Cache> cache = data::Cache::open(dir);

    compare(cache, data::LoaderConfig::pretraining(4, 7), device, "coronal (pre-training)");
    data::LoaderConfig axial = data::LoaderConfig::pretraining(4, 7);
    axial.crop.kind = data::CropKind::kAxial;
    compare(cache, axial, device, "axial stacks");
    compare(cache, data::LoaderConfig::staging(false, 3), device, "staging (central)");
    data::LoaderConfig seg = data::LoaderConfig::segmentation(true, 4, 7, {32, 96, 128});
    compare(cache, seg, device, "segmentation (native)");

    auto resident = cache->to_device(at::Device(device));
    std::printf("resident cache: %.1f MiB on %s\n", static_cast<double>(resident->bytes()) / (1 << 20), device.c_str());
    data::LoaderConfig pre = data::LoaderConfig::pretraining(24, 1);
    pre.resident = true;
    pre.device = device;
    pre.drop_last = false;
    data::BatchLoader dev_loader(resident, data::all_cases(*resident), pre);
    std::printf("RATE coronal 32x160x192, batch 24, %s-resident: %.0f samples/s\n", device.c_str(),
                samples_per_second(dev_loader, device, 40));
    pre.resident = false;
    pre.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    data::BatchLoader cpu_loader(cache, data::all_cases(*cache), pre);
    std::printf("RATE coronal 32x160x192, batch 24, %d CPU workers + copy to %s: %.0f samples/s\n", pre.workers,
                device.c_str(), samples_per_second(cpu_loader, device, 40));
    for (int workers : {1, 4, pre.workers}) {
      data::LoaderConfig c = pre;
      c.workers = workers;
      data::BatchLoader l(cache, data::all_cases(*cache), c);
      std::printf("RATE coronal 32x160x192, batch 24, %d CPU workers, no copy: %.0f samples/s\n", workers,
                  samples_per_second(l, "cpu", workers == 1 ? 8 : 40));
    }
    {
      data::LoaderConfig c = pre;
      c.resident = true;  // the cache read into RAM, not memory-mapped
      c.device = "cpu";
      data::BatchLoader l(cache, data::all_cases(*cache), c);
      std::printf("RATE coronal 32x160x192, batch 24, %d CPU workers, cache in RAM, no copy: %.0f samples/s\n",
                  c.workers, samples_per_second(l, "cpu", 40));
    }
    pre.pin_memory = at::Device(device).is_cuda();
    data::BatchLoader pinned_loader(cache, data::all_cases(*cache), pre);
    std::printf("RATE coronal 32x160x192, batch 24, %d CPU workers, pinned + copy to %s: %.0f samples/s\n",
                pre.workers, device.c_str(), samples_per_second(pinned_loader, device, 40));
  } catch (const std::exception& e) {
    std::printf("FAIL error: %s\n", e.what());
    return 1;
  }
  std::printf("%s (%d failure(s))\n", failures ? "FAILED" : "ALL PASSED", failures);
  return failures ? 1 : 0;
}
