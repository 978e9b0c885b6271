#include "core/build_paths.h"

namespace fratmae {

std::filesystem::path build_assets_dir() {
#ifdef FRATMAE_ASSETS_DIR
  return FRATMAE_ASSETS_DIR;
#else
  return "assets";
#endif
}

std::filesystem::path build_web_dir() {
#ifdef FRATMAE_WEB_DIR
  return FRATMAE_WEB_DIR;
#else
  return {};
#endif
}

}  // namespace fratmae
