// Provenance: what made an output. Every output JSON records the fratmae version, the command
// line and the time (provenance()); outputs of a model also its run, checkpoint step and a
// SHA-256 of its weights; outputs of inputs the inputs' absolute paths (and, for files, size
// and SHA-256), so a result can be traced to exactly what produced it.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae {

/// SHA-256 of a file's bytes as 64 lowercase hex digits (OpenSSL); "" in a build without
/// OpenSSL. Throws FileError naming the file if it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

/// Keep the program's command line for provenance() (main calls it once).
void set_command_line(int argc, char** argv);

/// {"fratmae_version", "libtorch_version", "created" (UTC, ISO 8601), "command" (as run;
/// "" outside the program)}.
nlohmann::json provenance();

/// An input as recorded: {"path": absolute} and for a file "bytes" and "sha256", for a
/// folder "files" (the number of entries).
nlohmann::json input_record(const std::filesystem::path& input);

}  // namespace fratmae
