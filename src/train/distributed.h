// Data-parallel training over processes with c10d (ProcessGroupGloo on CPU tensors,
// ProcessGroupNCCL on CUDA where the LibTorch has it), rendezvous through a TCPStore.
//
// The environment is the one torchrun and SLURM set: RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT (or SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID with MASTER_ADDR and
// MASTER_PORT exported by the batch script). Without them (or WORLD_SIZE=1) training runs in
// one process and nothing here is used.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>

namespace fratmae::train {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool enabled() const { return world > 1; }
  /// Read from the environment; throws fratmae::Error on inconsistent values.
  static DistEnv from_environment();
};

class ProcessGroup {
 public:
  /// Connects to the others (rank 0 hosts the TCPStore). `backend`: "gloo" or "nccl".
  ProcessGroup(const DistEnv& env, const std::string& backend);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  const DistEnv& env() const { return env_; }
  /// Sum of every rank's gradients divided by world size, in buckets of ~bucket_mb MB.
  /// Parameters without a gradient on this rank are all-reduced as zeros only when another
  /// rank has one (decided together), so every rank ends with the same set.
  void average_gradients(torch::nn::Module& module, double bucket_mb = 25.0);
  /// Every parameter and buffer set to rank 0's values.
  void broadcast_state(torch::nn::Module& module);
  /// Every rank's rows of `local` (B, ...), concatenated in rank order (W B, ...): the same
  /// global batch on every rank, for a loss over all samples (InfoNCE, eq. 4). The other ranks'
  /// rows are constants; this rank's are `local` itself, their gradient multiplied by the world
  /// size, so that after average_gradients() every parameter's gradient is the one process'
  /// gradient of the same loss over the whole batch (parameters that see all rows, such as the
  /// temperature, get that gradient on every rank already and are left unscaled). Same B on
  /// every rank.
  torch::Tensor all_gather_rows(const torch::Tensor& local);
  /// Mean over ranks of a few numbers (for logging).
  std::vector<double> mean(const std::vector<double>& values);
  /// Rank 0 receives every rank's `mine`, in rank order; the other ranks get an empty list.
  /// Through the TCPStore (any size, either backend), waiting up to `timeout` for the others:
  /// for results each rank computed on its share of the cases (a test split's scores).
  std::vector<std::string> gather_strings(const std::string& mine,
                                          std::chrono::minutes timeout = std::chrono::minutes(60));
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DistEnv env_;
  int64_t gathers_ = 0;  // gather_strings calls so far: the same count on every rank
};

/// A training command's process group: null in one process; else `device` "cuda" becomes this
/// rank's "cuda:LOCAL_RANK", the group joins with NCCL on CUDA and Gloo otherwise, and ranks
/// other than 0 log warnings only.
std::unique_ptr<ProcessGroup> join_process_group(const DistEnv& env, std::string& device);

}  // namespace fratmae::train
