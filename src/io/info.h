// What `fratmae info` reports about an image file, a DICOM folder or a converted study folder.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::io {

/// For a file: one entry. For a folder: every DICOM series in it and every image file in it.
/// Each entry: path, kind ("image" | "dicom-series" | "dicom-object"), size, spacing, origin,
/// direction, orientation, modality, units, value range, non-finite voxel count.
nlohmann::json describe(const std::filesystem::path& path);

/// Human-readable rendering of describe()'s result.
std::string format_description(const nlohmann::json& d);

}  // namespace fratmae::io
