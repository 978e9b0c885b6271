// Batches for training and evaluation, assembled ahead of the model so it never waits.
//
//   CPU:      `workers` threads each build whole batches (data/batch.h) from the memory-mapped
//             cache into a bounded queue of `prefetch` batches; next() hands them out in order.
//   resident: the cache lives on `device` (Cache::to_device); on a GPU next() gathers the batch
//             there (asynchronous, no worker threads needed); on the CPU (the cache read into
//             RAM instead of mapped) the workers build batches as above.
// Either way batch `step` of `epoch` is the same pure function of the seed (batch_at()), so
// results do not depend on the number of workers or on the mode.
//
//   auto cache = data::Cache::open(dir);
//   data::BatchLoader pre(cache, split.train, data::LoaderConfig::pretraining(/*batch=*/24));
//   for (int64_t e = 0; e < epochs; ++e) {
//     pre.start_epoch(e);
//     while (auto b = pre.next()) { ... b->ct, b->pet, b->text_ids ... }
//   }
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/batch.h"
#include "data/cache.h"

namespace fratmae::data {

struct LoaderConfig {
  CropConfig crop;
  AugmentConfig augment;
  int64_t batch_size = 2;
  bool shuffle = true;    // a new permutation of the cases every epoch (else in the given order)
  bool drop_last = true;  // only full batches (else the last one may be smaller)
  int workers = 2;        // CPU threads building batches; 0 = in the calling thread
  int prefetch = 4;       // finished batches waiting at most (besides one being built per worker)
  uint64_t seed = 0;
  bool resident = false;        // hold the cache on `device` and gather batches there
  std::string device = "cpu";   // for resident: "cpu", "cuda", "cuda:1", ...
  bool resident_native = true;  // resident: also move the native copies (segmentation)
  bool pin_memory = false;      // CPU batches in page-locked memory, for Batch::to(cuda, true)
                                // to copy asynchronously (needs a CUDA LibTorch)

  void validate() const;  // throws fratmae::Error saying what to fix

  /// Pre-training (paper §2.4): random coronal stacks 32 x W x D from 64 rows, k = 2, flips and
  /// small intensity changes.
  static LoaderConfig pretraining(int64_t batch_size = 2, uint64_t seed = 0);
  /// Staging (paper §2.4): the central coronal stack of the whole body. Training: shuffled,
  /// augmented; evaluation (train = false): in order, no augmentation, every case once.
  static LoaderConfig staging(bool train, int64_t batch_size = 2, uint64_t seed = 0);
  /// Segmentation: native-resolution crops of `size` (default 32 x 160 x 192), half of them
  /// centred on a lesion; evaluation: central crops in order.
  static LoaderConfig segmentation(bool train, int64_t batch_size = 2, uint64_t seed = 0,
                                   std::array<int64_t, 3> size = {32, 160, 192});
};

class BatchLoader {
 public:
  /// `cases`: indices into `cache` (e.g. a split). Throws fratmae::Error when the config does
  /// not fit the cache (too few cases for a full batch, no native copies for segmentation, a
  /// crop longer than the volume).
  BatchLoader(std::shared_ptr<const Cache> cache, std::vector<int64_t> cases, LoaderConfig cfg);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches_per_epoch() const;
  /// Begin `epoch` (stops prefetching of the one before) and start building its batches.
  void start_epoch(int64_t epoch);
  /// The next batch of the current epoch, or nullopt after its last. Rethrows a worker's error.
  std::optional<Batch> next();
  /// What next() returns for (epoch, step), built in the calling thread.
  Batch batch_at(int64_t epoch, int64_t step) const;
  /// The cases of batch `step` of `epoch`.
  std::vector<int64_t> batch_cases(int64_t epoch, int64_t step) const;

  const Cache& cache() const { return *cache_; }
  const LoaderConfig& config() const { return cfg_; }

 private:
  void stop_workers();
  void worker();
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  std::shared_ptr<const Cache> cache_;
  std::vector<int64_t> cases_;
  LoaderConfig cfg_;
  std::vector<int64_t> order_;  // the current epoch's permutation of cases_
  int64_t epoch_ = -1, consumed_ = 0, next_to_build_ = 0;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
  std::unique_ptr<TensorPool> pool_;
};

/// The cases of `cases` whose stage is known (stage_label >= 0), for the staging task.
std::vector<int64_t> cases_with_stage(const Cache& cache, const std::vector<int64_t>& cases);
/// The cases of `cases` that have a lesion mask (for segmentation).
std::vector<int64_t> cases_with_mask(const Cache& cache, const std::vector<int64_t>& cases);
/// 0, 1, ..., cache.size() - 1.
std::vector<int64_t> all_cases(const Cache& cache);

}  // namespace fratmae::data
