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

/// Tensor operations started from the calling thread run in it alone from now on; other
/// threads and the process-wide setting are left unchanged. With an OpenMP LibTorch (Debian's,
/// PyTorch's wheels) this sets the calling thread's OpenMP team size to 1 after LibTorch's
/// own per-thread initialisation; with other backends it does nothing.
void single_threaded_ops_in_this_thread();

}  // namespace fratmae
