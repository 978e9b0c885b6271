#include "core/shard.h"

#include <cstdlib>

#include "core/error.h"

namespace fratmae {

namespace {

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0') return false;
  out = v;
  return true;
}

int64_t env_int(const char* name) {
  const char* v = std::getenv(name);
  int64_t x = 0;
  if (!parse_int(v ? v : "", x)) throw Error(std::string("environment variable ") + name + " is not an integer: '" + (v ? v : "") + "'");
  return x;
}

bool has_env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

Shard checked(int64_t index, int64_t count, const std::string& source) {
  if (count < 1) throw Error(source + ": the number of shards must be at least 1, got " + std::to_string(count));
  if (index < 0 || index >= count)
    throw Error(source + ": shard " + std::to_string(index) + " is outside 0.." + std::to_string(count - 1) +
                " (shards count from 0)");
  return Shard{index, count, source};
}

}  // namespace

std::string Shard::to_string() const { return std::to_string(index) + "/" + std::to_string(count); }

std::string Shard::suffix() const {
  return enabled() ? "-" + std::to_string(index) + "-of-" + std::to_string(count) : std::string();
}

Shard Shard::parse(const std::string& text) {
  const auto slash = text.find('/');
  int64_t i = 0, n = 0;
  if (slash == std::string::npos || !parse_int(text.substr(0, slash), i) || !parse_int(text.substr(slash + 1), n))
    throw Error("--shard: expected I/N (shard I of N, counted from 0: 0/4 .. 3/4), got '" + text + "'");
  return checked(i, n, "--shard");
}

Shard Shard::resolve(const std::string& given) {
  if (!given.empty()) return parse(given);
  if (has_env("WORLD_SIZE")) return checked(has_env("RANK") ? env_int("RANK") : 0, env_int("WORLD_SIZE"), "RANK/WORLD_SIZE");
  if (has_env("SLURM_NTASKS") && has_env("SLURM_PROCID"))
    return checked(env_int("SLURM_PROCID"), env_int("SLURM_NTASKS"), "SLURM_PROCID/SLURM_NTASKS");
  if (has_env("SLURM_ARRAY_TASK_ID") && has_env("SLURM_ARRAY_TASK_COUNT")) {
    const int64_t lo = has_env("SLURM_ARRAY_TASK_MIN") ? env_int("SLURM_ARRAY_TASK_MIN") : 0;
    return checked(env_int("SLURM_ARRAY_TASK_ID") - lo, env_int("SLURM_ARRAY_TASK_COUNT"), "SLURM array");
  }
  return Shard{};
}

std::string launcher_job_id() {
  for (const char* v : {"TORCHELASTIC_RUN_ID", "SLURM_ARRAY_JOB_ID", "SLURM_JOB_ID"})
    if (const char* x = std::getenv(v); x && *x) return std::string(v) + "=" + x;
  return "";
}

}  // namespace fratmae
