// Intra-op threads of worker threads.
//
// Worker threads that each build a whole batch or case (data loader, cache builder) should run
// their tensor operations single-threaded: the parallelism comes from the workers. LibTorch's
// at::set_num_threads(1) is the wrong tool there: besides the calling thread it sets the
// process-wide count that every thread initialises itself from on its first parallel
// operation, so a thread started later (or one that has not yet run a parallel operation,
// such as a training loop) would also run single-threaded.
#pragma once

namespace fratmae {

/// Cores this process may run on (its CPU affinity; at least 1).
int usable_cores();

/// The program's CPU set-up, once at start: `threads` intra-op threads for tensor operations
/// (0: usable_cores()). LibTorch's own default is the number of *physical* cores that its
/// cpuinfo finds, which on some virtual machines is 1 of 2 (the project's 2-core machines:
/// every operation ran single-threaded, and LibTorch then also sent 1x1x1 convolutions to its
/// native kernel on the generic reference BLAS). Segmentation fine-tuning of the `tiny` model:
/// 15 -> 28 samples/s on two cores.
void configure_cpu(int threads);

/// Tensor operations started from the calling thread run in it alone from now on; other
/// threads and the process-wide setting are left unchanged. With an OpenMP LibTorch (Debian's,
/// PyTorch's wheels) this sets the calling thread's OpenMP team size to 1 after LibTorch's
/// own per-thread initialisation; with other backends it does nothing.
void single_threaded_ops_in_this_thread();

}  // namespace fratmae
