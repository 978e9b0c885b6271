// The folder of a training run (pretrain, finetune): a fresh start, a start again after one that
// failed before it trained, or a resume that must continue the same run.
//
// A run has *started* once it has written a metrics line or a checkpoint. A config.json without
// either is what a start leaves when it fails after writing it (a batch that cannot be filled, a
// device that is not there): the next start replaces it instead of refusing the folder.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace fratmae::train {

/// The configuration of the run in `run` if it has started (see above); nullopt when the folder
/// holds no config.json or only that of a failed start. A config.json that is not JSON is an
/// error naming it.
std::optional<nlohmann::json> started_run_config(const std::filesystem::path& run);

/// The differences between two resolved configurations as "key.path: OLD in the run, NEW now",
/// leaves compared one by one (arrays and values as a whole), at most `limit` of them (then
/// "..."). Keys of `ignored` (top-level or "section.key") are left out.
std::vector<std::string> config_differences(const nlohmann::json& old_config, const nlohmann::json& new_config,
                                            const std::vector<std::string>& ignored, size_t limit = 6);

/// A setting the program gained after a run was started is missing from that run's config.json;
/// compared as it is, every resume of such a run would be refused ("(none) in the run"). Each
/// pair gives a setting (a JSON pointer, "/train/intensity_scale") and the value that behaviour
/// had before the setting existed; `config` gets the value where the key is missing, so a run
/// resumes when the new setting keeps its old behaviour and is refused, naming it, when not.
nlohmann::json with_settings_added_later(nlohmann::json config,
                                         const std::vector<std::pair<std::string, nlohmann::json>>& added_later);

/// Checks that a run may start or resume in `run` with the configuration `resolved`; throws
/// FileError naming the folder (or its config.json) and what to do:
/// - a started run and no `resume`: "already holds a run (N metrics lines, newest checkpoint
///   ...); pass --resume or choose another --out";
/// - `resume` and no config.json at all: "holds no run to resume";
/// - `resume` of a started run whose settings differ (outside `ignored`): names each difference.
/// `resume` of a failed start starts it afresh (logged). `command` names the subcommand in messages.
void check_run_folder(const std::filesystem::path& run, const std::optional<nlohmann::json>& started,
                      const nlohmann::json& resolved, bool resume, const std::vector<std::string>& ignored,
                      const std::string& command);

/// `cfg` with the run length (`steps`, `epochs`) of the started run it resumes when no new one
/// was given (`cfg.run_length_given` false); `cfg` itself otherwise.
template <class Config>
Config with_run_length(const Config& cfg, const std::optional<nlohmann::json>& started, bool resume) {
  Config c = cfg;
  if (resume && started && !cfg.run_length_given && started->contains("train")) {
    c.steps = started->at("train").value("steps", c.steps);
    c.epochs = started->at("train").value("epochs", c.epochs);
  }
  return c;
}

}  // namespace fratmae::train
