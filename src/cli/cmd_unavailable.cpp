#include "cli/commands.h"
#include "core/error.h"

namespace fratmae::cli {

void add_unavailable(CLI::App& app, const std::string& name, const std::string& what) {
  CLI::App* sub = app.add_subcommand(name, what + " (not in this build)");
  sub->allow_extras();
  sub->callback([name] {
    throw Error("'" + name + "' needs ITK, and this fratmae was built with "
                "-DFRATMAE_WITH_ITK=OFF; install ITK (scripts/install-deps.sh) and rebuild");
  });
}

}  // namespace fratmae::cli
