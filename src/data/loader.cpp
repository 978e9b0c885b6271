#include "data/loader.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "core/error.h"
#include "core/threads.h"

namespace fratmae::data {

void LoaderConfig::validate() const {
  crop.validate();
  augment.validate();
  if (batch_size < 1) throw Error("loader: batch size must be at least 1");
  if (workers < 0) throw Error("loader: workers must be >= 0");
  if (prefetch < 1) throw Error("loader: prefetch must be at least 1 batch");
}

namespace {
// What training and evaluation loaders differ in: augmentation, shuffling, partial batches.
LoaderConfig for_phase(bool train, int64_t batch_size, uint64_t seed) {
  LoaderConfig c;
  c.augment.enabled = train;
  c.shuffle = train;
  c.drop_last = train;
  c.batch_size = batch_size;
  c.seed = seed;
  return c;
}
}  // namespace

LoaderConfig LoaderConfig::pretraining(int64_t batch_size, uint64_t seed) {
  LoaderConfig c = for_phase(/*train=*/true, batch_size, seed);
  c.crop.kind = CropKind::kCoronal;
  c.crop.slices = 32;
  c.crop.stride = 2;
  return c;
}

LoaderConfig LoaderConfig::staging(bool train, int64_t batch_size, uint64_t seed) {
  LoaderConfig c = for_phase(train, batch_size, seed);
  c.crop.kind = CropKind::kCoronal;
  c.crop.central = true;
  return c;
}

LoaderConfig LoaderConfig::segmentation(bool train, int64_t batch_size, uint64_t seed,
                                        std::array<int64_t, 3> size) {
  LoaderConfig c = for_phase(train, batch_size, seed);
  c.crop.kind = CropKind::kNative;
  c.crop.native_size = size;
  c.crop.lesion_prob = 0.5;
  c.crop.central = !train;
  return c;
}

BatchLoader::BatchLoader(std::shared_ptr<const Cache> cache, std::vector<int64_t> cases, LoaderConfig cfg)
    : cache_(std::move(cache)), cases_(std::move(cases)), cfg_(std::move(cfg)) {
  cfg_.validate();
  if (!cache_) throw Error("loader: no cache");
  for (int64_t i : cases_) cache_->at(i);  // range check, with a message
  if (cases_.empty()) throw Error("loader: no cases to load (empty split?)");
  if (cfg_.drop_last && static_cast<int64_t>(cases_.size()) < cfg_.batch_size)
    throw Error("loader: " + std::to_string(cases_.size()) + " case(s) cannot fill one batch of " +
                std::to_string(cfg_.batch_size) + "; lower the batch size");
  if (cfg_.crop.kind != CropKind::kNative) {
    const auto& s = cache_->settings().size;
    const int a = cfg_.crop.kind == CropKind::kCoronal ? 0 : 2;
    if (s[a] < cfg_.crop.slices * cfg_.crop.stride)
      throw Error("loader: a " + cfg_.crop.to_string() + " needs " + std::to_string(cfg_.crop.slices * cfg_.crop.stride) +
                  " slices, the cache's whole-body volumes have " + std::to_string(s[a]));
  } else {
    for (int64_t i : cases_)
      if (!cache_->at(i).nat_ct.defined())
        throw Error("loader: case " + cache_->at(i).id + " of cache " + cache_->dir().string() +
                    " has no native-resolution copy, which segmentation crops need; preprocess without --no-native");
  }
  if (cfg_.resident) {
    const at::Device dev(cfg_.device);
    if (!cache_->resident() || cache_->device() != dev) cache_ = cache_->to_device(dev, cfg_.resident_native);
  }
  // Enough buffers for the batches queued, being built and held by the trainer (x3 modalities).
  if (cfg_.pin_memory && !at::hasCUDA())
    throw Error("loader: pin_memory needs a CUDA build of LibTorch; leave it off on CPU-only machines");
  pool_ = std::make_unique<TensorPool>(static_cast<size_t>(3 * (cfg_.prefetch + cfg_.workers + 4)), cfg_.pin_memory);
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = static_cast<int64_t>(cases_.size());
  return cfg_.drop_last ? n / cfg_.batch_size : (n + cfg_.batch_size - 1) / cfg_.batch_size;
}

std::vector<int64_t> BatchLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order = cases_;
  if (cfg_.shuffle) {  // Fisher-Yates with the epoch's own random stream
    Rng rng(mix_seed(cfg_.seed, static_cast<uint64_t>(epoch)));
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i)
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.uniform_int(0, i))]);
  }
  return order;
}

std::vector<int64_t> BatchLoader::batch_cases(int64_t epoch, int64_t step) const {
  // Workers read order_ of the current epoch; start_epoch() changes it only while none runs.
  const std::vector<int64_t> order = epoch == epoch_ ? order_ : epoch_order(epoch);
  const int64_t begin = step * cfg_.batch_size;
  const int64_t end = std::min<int64_t>(begin + cfg_.batch_size, static_cast<int64_t>(order.size()));
  if (step < 0 || begin >= end) throw Error("loader: batch " + std::to_string(step) + " is past the end of the epoch");
  return std::vector<int64_t>(order.begin() + begin, order.begin() + end);
}

Batch BatchLoader::batch_at(int64_t epoch, int64_t step) const {
  const std::vector<int64_t> cases = batch_cases(epoch, step);
  std::vector<uint64_t> seeds;
  const uint64_t s = mix_seed(mix_seed(cfg_.seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(step));
  for (size_t b = 0; b < cases.size(); ++b) seeds.push_back(mix_seed(s, b));
  Batch batch = make_batch(*cache_, cases, cfg_.crop, cfg_.augment, seeds, pool_.get());
  batch.epoch = epoch;
  batch.step = step;
  return batch;
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
}

void BatchLoader::start_epoch(int64_t epoch) {
  stop_workers();
  order_ = epoch_order(epoch);  // computed once for all the epoch's batches
  epoch_ = epoch;
  consumed_ = 0;
  next_to_build_ = 0;
  error_ = nullptr;
  // Worker threads for CPU caches (mapped or held in RAM); a GPU-resident cache is gathered on
  // the device by the calling thread.
  if (cfg_.workers > 0 && cache_->device().is_cpu())
    for (int w = 0; w < cfg_.workers; ++w) threads_.emplace_back([this] { worker(); });
}

void BatchLoader::worker() {
  single_threaded_ops_in_this_thread();  // parallelism comes from the workers
  const int64_t n = batches_per_epoch();
  for (;;) {
    int64_t step;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // At most `prefetch` batches waiting beyond the one each worker is building.
      const int64_t ahead = cfg_.prefetch + cfg_.workers;
      cv_.wait(lock, [&] { return stopping_ || next_to_build_ >= n || next_to_build_ < consumed_ + ahead; });
      if (stopping_ || next_to_build_ >= n || error_) return;
      step = next_to_build_++;
    }
    try {
      Batch b = batch_at(epoch_, step);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(step, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  if (epoch_ < 0) start_epoch(0);
  if (consumed_ >= batches_per_epoch()) return std::nullopt;
  if (threads_.empty()) return batch_at(epoch_, consumed_++);
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return error_ || ready_.count(consumed_) > 0; });
  if (error_) std::rethrow_exception(error_);
  auto it = ready_.find(consumed_);
  Batch b = std::move(it->second);
  ready_.erase(it);
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

std::vector<int64_t> cases_with_stage(const Cache& cache, const std::vector<int64_t>& cases) {
  std::vector<int64_t> out;
  for (int64_t i : cases)
    if (cache.at(i).stage_label >= 0) out.push_back(i);
  return out;
}

std::vector<int64_t> cases_with_mask(const Cache& cache, const std::vector<int64_t>& cases) {
  std::vector<int64_t> out;
  for (int64_t i : cases)
    if (cache.at(i).nat_seg.defined() || cache.at(i).wb_seg.defined()) out.push_back(i);
  return out;
}

std::vector<int64_t> all_cases(const Cache& cache) {
  std::vector<int64_t> out(static_cast<size_t>(cache.size()));
  for (int64_t i = 0; i < cache.size(); ++i) out[static_cast<size_t>(i)] = i;
  return out;
}

}  // namespace fratmae::data
