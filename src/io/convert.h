// `fratmae convert`: a PET/CT study as users have it (DICOM series or NIfTI) -> the AutoPET
// layout the rest of fratmae reads: SUV.nii.gz (PET grid), CT.nii.gz (CT grid),
// CTres.nii.gz (CT on the PET grid) and study.json (what was done and from what).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/volume.h"

namespace fratmae::io {

struct ConvertConfig {
  std::filesystem::path pet_dicom;        // folder with the PET series, or
  std::filesystem::path pet;              // a NIfTI/NRRD/MHA already in SUVbw
  std::optional<std::string> pet_series;  // SeriesInstanceUID when the folder has several
  std::filesystem::path ct_dicom;         // optional: folder with the CT series, or
  std::filesystem::path ct;               // a NIfTI/NRRD/MHA in HU
  std::optional<std::string> ct_series;
  std::filesystem::path out;
  bool overwrite = false;
  bool allow_different_frames = false;  // accept CT and PET with different FrameOfReferenceUID

  /// Throws fratmae::Error saying which flags to fix.
  void validate() const;
  nlohmann::json to_json() const;
};

struct ConvertedStudy {
  Volume suv;                    // float32 SUVbw on the PET grid
  std::optional<Volume> ct;      // HU on the CT grid
  std::optional<Volume> ct_res;  // HU on the PET grid
  nlohmann::json study;          // study.json
};

/// Read and convert everything in memory (no file is written).
ConvertedStudy convert_study(const ConvertConfig& cfg);

/// Write a converted study into cfg.out atomically (all files or none).
void write_study(const ConvertedStudy& s, const ConvertConfig& cfg);

}  // namespace fratmae::io
