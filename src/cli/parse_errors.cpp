#include "cli/parse_errors.h"

#include <algorithm>
#include <iostream>

namespace fratmae::cli {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  return names;
}

// The first word of argv that is neither an option nor the value of a global option.
std::string first_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-", 0) == 0) {
      if (a.find('=') == std::string::npos) {
        const CLI::Option* o = nullptr;
        try {
          o = app.get_option_no_throw(a);
        } catch (...) {
        }
        if (o && o->get_type_size() != 0) ++i;  // skip its value
      }
      continue;
    }
    return a;
  }
  return "";
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::string closest_name(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = 3;
  for (const std::string& n : names) {
    const size_t d = (!word.empty() && n.rfind(word, 0) == 0) ? 1 : edit_distance(word, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

int report_parse_error(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
  const std::vector<std::string> names = command_names(app);
  const std::vector<CLI::App*> parsed = app.get_subcommands();
  std::string msg;
  if (parsed.empty()) {
    const std::string word = first_word(app, argc, argv);
    if (word.empty()) {
      msg = "give a command (" + joined(names) + "); `fratmae --help` says what each does";
      if (std::string(e.what()).find("subcommand") == std::string::npos) msg = std::string(e.what()) + "; " + msg;
    } else if (std::find(names.begin(), names.end(), word) == names.end()) {
      const std::string guess = closest_name(word, names);
      msg = "'" + word + "' is not a fratmae command" + (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
            "\ncommands: " + joined(names);
    } else {
      msg = e.what();
    }
  } else {
    const std::string sub = parsed.front()->get_name();
    msg = sub + ": " + e.what();
    if (e.get_name() == "ConfigError")
      msg += " (in a --config file, a command's options go under its table, e.g. [" + sub +
             "]; only the global options verbose, quiet and threads stand at the top)";
    msg += "\n`fratmae " + sub + " --help` lists its options";
  }
  std::cerr << "fratmae: error: " << msg << "\n";
  return kUsageError;
}

}  // namespace fratmae::cli
