#include "core/threads.h"

#include <ATen/Parallel.h>

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <thread>

namespace fratmae {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void configure_cpu(int threads) {
  at::set_num_threads(threads > 0 ? threads : usable_cores());
}

void single_threaded_ops_in_this_thread() {
  // LibTorch initialises a thread's OpenMP team size lazily, once, from the process-wide count
  // (at its first parallel operation); do that now so it cannot undo the setting below.
  at::internal::lazy_init_num_threads();
  // omp_set_num_threads sets the calling thread's team size only (its nthreads-var ICV). Looked
  // up at run time: libgomp is LibTorch's dependency, not ours, and absent from non-OpenMP builds.
  using SetFn = void (*)(int);
  static const SetFn omp_set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (omp_set) omp_set(1);
}

}  // namespace fratmae
