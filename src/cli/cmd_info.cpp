#ifdef FRATMAE_WITH_ITK
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "io/info.h"

namespace fratmae::cli {

void add_info(CLI::App& app) {
  struct Args {
    std::string path;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "info", "Show size, spacing, origin, direction, modality/units and value range of an image "
              "file, or of every DICOM series and image in a folder");
  sub->add_option("path", args->path, "image file (.nii.gz, .nrrd, .mha) or folder")->required();
  sub->add_flag("--json", args->json, "print JSON instead of text");
  sub->callback([args] {
    const nlohmann::json d = io::describe(args->path);
    std::cout << (args->json ? d.dump(2) + "\n" : io::format_description(d));
  });
}

}  // namespace fratmae::cli
#endif
