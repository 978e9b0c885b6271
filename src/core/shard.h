// Which part of a list of independent jobs (studies to predict, cases to preprocess) this
// process does, when many processes share the work.
//
// Shard i of n takes the items whose index in the sorted list is i modulo n (round robin, so
// big and small studies spread evenly). Given explicitly (`--shard I/N`, counted from 0) or
// read from the environment a launcher sets, in this order:
//   RANK, WORLD_SIZE                          torchrun, or any script that exports them
//   SLURM_PROCID, SLURM_NTASKS                srun tasks of one job step
//   SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT   a SLURM job array
// Without any of them: shard 0 of 1 (all items).
#pragma once

#include <cstdint>
#include <string>

namespace fratmae {

struct Shard {
  int64_t index = 0, count = 1;
  std::string source = "none";  // "--shard", "RANK/WORLD_SIZE", "SLURM_PROCID/SLURM_NTASKS", "SLURM array"

  bool enabled() const { return count > 1; }
  bool owns(int64_t item) const { return item % count == index; }
  /// "2/3" (shard 2 of 3), the --shard form.
  std::string to_string() const;
  /// "-2-of-3", for file names; "" for a single shard.
  std::string suffix() const;

  /// Parses "I/N" with 0 <= I < N; throws fratmae::Error saying what is wrong.
  static Shard parse(const std::string& text);
  /// `given` (the --shard text) if not empty, else the environment (see above).
  static Shard resolve(const std::string& given);
};

/// The launcher's job id ("TORCHELASTIC_RUN_ID=...", "SLURM_ARRAY_JOB_ID=...", "SLURM_JOB_ID=...";
/// "" without one), so that the shards of an earlier job are not merged with this one's.
std::string launcher_job_id();

}  // namespace fratmae
