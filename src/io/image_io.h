// Reading and writing NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd)
// through ITK, keeping ITK's geometry (LPS) exactly.
#pragma once

#include <filesystem>
#include <string>

#include "core/volume.h"

namespace fratmae::io {

/// Read a 3D image as float32 voxels. Throws FileError naming the file on a missing,
/// truncated or unreadable file, or an image that is not 3D.
Volume read_image(const std::filesystem::path& path);

/// Read a 3D label map as uint8 voxels. Throws if a value is not an integer in 0..255.
Volume read_labels(const std::filesystem::path& path);

/// Write `v` (float32, float64, int16, int32 or uint8 voxels; written in that type). The
/// format follows the extension. The caller makes this atomic (StagedOutputs).
/// `description` (when not empty) goes into the file's own description: NIfTI's 80-byte
/// `descrip` (79 characters kept), NRRD/MHA's comment fields.
void write_image(const Volume& v, const std::filesystem::path& path, const std::string& description = "");

/// The bytes of `v` as a .nii.gz file (written by write_image to a temporary file, read back and
/// removed): for embedding a volume elsewhere, e.g. in an HTML report.
std::string nifti_gz_bytes(const Volume& v);

/// True for file names ITK reads as images here (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd).
bool is_image_file(const std::filesystem::path& path);

/// Number of NaN or infinite voxels (0 for integer volumes).
int64_t count_non_finite(const Volume& v);

/// Throws FileError(path, ...) if `v` has NaN or infinite voxels.
void require_finite(const Volume& v, const std::filesystem::path& path);

}  // namespace fratmae::io
