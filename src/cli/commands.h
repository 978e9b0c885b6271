// Each subcommand registers itself on the top-level CLI11 app. cli/ only parses and
// dispatches: the work is done by the libraries.
#pragma once

#include <CLI/CLI.hpp>

namespace fratmae::cli {

void add_convert(CLI::App& app);
void add_info(CLI::App& app);
void add_phantom(CLI::App& app);
void add_preprocess(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_model(CLI::App& app);
void add_pretrain(CLI::App& app);
void add_export(CLI::App& app);
void add_finetune(CLI::App& app);
void add_experiment(CLI::App& app);
void add_predict(CLI::App& app);
void add_evaluate(CLI::App& app);

/// For builds without ITK: a subcommand that explains how to get it.
void add_unavailable(CLI::App& app, const std::string& name, const std::string& what);

}  // namespace fratmae::cli
