// Folders of the checkout this binary was built from, compiled into this one small file.
//
// They are absolute paths, so a translation unit that carries them compiles differently in every
// clone folder and ccache can never reuse it there. Kept here, away from the files that use them,
// a new clone recompiles this file alone (well under a second, without the precompiled header)
// instead of the CLIP tokenizer and the report page (about a minute on two cores).
#pragma once

#include <filesystem>

namespace fratmae {

/// The checkout's assets/ folder (compile definition FRATMAE_ASSETS_DIR), else the relative
/// folder "assets".
std::filesystem::path build_assets_dir();

/// The checkout's web/ folder, where scripts/install-deps.sh installs the page's npm packages
/// (compile definition FRATMAE_WEB_DIR); empty when the build did not record one.
std::filesystem::path build_web_dir();

}  // namespace fratmae
