// Tests of src/core/threads: a worker thread's single-threaded operations leave the intra-op
// thread count of every other thread alone.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <thread>

#include "core/threads.h"

using namespace fratmae;

TEST(Threads, WorkerSettingStaysInTheWorker) {
  const int saved = at::get_num_threads();
  at::set_num_threads(2);
  int in_worker = -1;
  std::thread worker([&] {
    single_threaded_ops_in_this_thread();
    in_worker = at::get_num_threads();
    (void)at::ones({1000, 100}).sum();  // a parallel operation in the worker
  });
  worker.join();
  EXPECT_EQ(in_worker, 1);
  EXPECT_EQ(at::get_num_threads(), 2);  // this thread
  int later = -1;
  std::thread fresh([&] { later = at::get_num_threads(); });  // a thread started afterwards
  fresh.join();
  EXPECT_EQ(later, 2);
  // What at::set_num_threads(1) in a worker would have done to a thread started afterwards.
  std::thread([] { at::set_num_threads(1); }).join();
  std::thread([&] { later = at::get_num_threads(); }).join();
  EXPECT_EQ(later, 1) << "LibTorch's set_num_threads no longer process-wide: the note in core/threads.h is stale";
  at::set_num_threads(saved);
}

TEST(Threads, ConfigureCpuUsesEveryUsableCore) {
  const int saved = at::get_num_threads();
  EXPECT_GE(usable_cores(), 1);
  configure_cpu(0);
  EXPECT_EQ(at::get_num_threads(), usable_cores());
  int later = -1;
  std::thread([&] { later = at::get_num_threads(); }).join();  // threads started later too
  EXPECT_EQ(later, usable_cores());
  configure_cpu(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  at::set_num_threads(saved);
}
