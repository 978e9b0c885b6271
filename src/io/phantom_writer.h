// `fratmae phantom`: a phantom cohort written in the AutoPET layout.
//
//   DIR/<case>/CTres.nii.gz   CT in HU (int16) on the PET grid
//   DIR/<case>/SUV.nii.gz     PET in SUVbw (float32)
//   DIR/<case>/SEG.nii.gz     lesion mask (uint8)
//   DIR/<case>/lesions.json   every lesion: site, Ann Arbor region, centre, size, SUV, voxels
//   DIR/<case>/mip.png        coronal PET MIP with lesions outlined, beside a CT MIP
//   DIR/metadata.csv          case,tracer,diagnosis,age,sex,stage,... (one row per case)
#pragma once

#include <filesystem>

#include "phantom/cohort.h"

namespace fratmae::io {

/// Generate and write the cohort; cases run in parallel (`workers` threads, 0 = all cores).
void write_phantom_cohort(const phantom::PhantomConfig& cfg, const std::filesystem::path& out,
                          bool overwrite, int workers = 0);

}  // namespace fratmae::io
