#include "train/run_folder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "core/atomic_output.h"
#include "core/error.h"
#include "train/checkpoint.h"

namespace fratmae::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Metrics lines of RUN/metrics.jsonl (non-blank lines; 0 without the file).
int64_t metrics_lines(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) ++n;
  return n;
}

std::string shown(const json& v) {
  if (v.is_null()) return "(none)";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

void differences(const json& a, const json& b, const std::string& path, const std::vector<std::string>& ignored,
                 std::vector<std::string>& out) {
  if (std::find(ignored.begin(), ignored.end(), path) != ignored.end()) return;
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : a.items()) keys.push_back(k);
    for (const auto& [k, v] : b.items())
      if (!a.contains(k)) keys.push_back(k);
    for (const std::string& k : keys)
      differences(a.contains(k) ? a[k] : json(nullptr), b.contains(k) ? b[k] : json(nullptr),
                  path.empty() ? k : path + "." + k, ignored, out);
    return;
  }
  if (a != b) out.push_back(path + ": " + shown(a) + " in the run, " + shown(b) + " now");
}

}  // namespace

std::optional<json> started_run_config(const fs::path& run) {
  std::error_code ec;
  if (!fs::exists(run / "config.json", ec)) return std::nullopt;
  if (metrics_lines(run) == 0 && !latest_checkpoint(run)) return std::nullopt;  // a failed start
  try {
    return json::parse(read_file(run / "config.json"));
  } catch (const json::exception& e) {
    throw FileError(run / "config.json", std::string("is not a run configuration (") + e.what() + ")");
  }
}

std::vector<std::string> config_differences(const json& old_config, const json& new_config,
                                            const std::vector<std::string>& ignored, size_t limit) {
  std::vector<std::string> all;
  differences(old_config, new_config, "", ignored, all);
  if (all.size() > limit) {
    all.resize(limit);
    all.push_back("...");
  }
  return all;
}

json with_settings_added_later(json config, const std::vector<std::pair<std::string, json>>& added_later) {
  for (const auto& [pointer, before] : added_later) {
    const json::json_pointer p(pointer);
    if (config.is_object() && config.contains(p.parent_pointer()) && config.at(p.parent_pointer()).is_object() &&
        !config.contains(p))
      config[p] = before;
  }
  return config;
}

void check_run_folder(const fs::path& run, const std::optional<json>& started, const json& resolved, bool resume,
                      const std::vector<std::string>& ignored, const std::string& command) {
  std::error_code ec;
  const bool has_config = fs::exists(run / "config.json", ec);
  if (started && !resume) {
    const auto ck = latest_checkpoint(run);
    throw FileError(run, "already holds a " + command + " run (" + std::to_string(metrics_lines(run)) +
                             " metrics lines, " + (ck ? "newest checkpoint " + ck->filename().string() : "no checkpoint") +
                             "); pass --resume to continue it or choose another --out");
  }
  if (resume && !has_config) throw FileError(run, "holds no run to resume (no config.json)");
  if (resume && !started) {
    spdlog::info("{}: {} holds a run that stopped before its first step; starting it afresh", command, run.string());
    return;
  }
  if (!started && has_config)
    spdlog::info("{}: replacing the settings of a start that failed before its first step in {}", command, run.string());
  if (!resume) return;
  const std::vector<std::string> diff = config_differences(*started, resolved, ignored);
  if (diff.empty()) return;
  std::string list;
  for (const std::string& d : diff) list += (list.empty() ? "" : "; ") + d;
  throw FileError(run / "config.json", "the run was started with different settings (" + list +
                                           "); resume with the same settings, or choose another --out");
}

}  // namespace fratmae::train
