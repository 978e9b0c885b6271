// Command-line mistakes reported like every other error: "fratmae: error: ..." on stderr, exit
// status 2 (a usage error), a suggestion for a mistyped command and the list of commands.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace fratmae::cli {

/// Exit status of a command-line (usage) error.
constexpr int kUsageError = 2;

/// The name among `names` closest to `word` by edit distance (at most 2, or a prefix of it);
/// "" when none is that close.
std::string closest_name(const std::string& word, const std::vector<std::string>& names);

/// Reports a CLI11 parse error of `app` (parsed from argv) and returns the exit status: help and
/// version requests print as CLI11 does and return 0; anything else prints one "fratmae: error:"
/// message naming the command, what is wrong and where to look, and returns kUsageError.
int report_parse_error(CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

}  // namespace fratmae::cli
