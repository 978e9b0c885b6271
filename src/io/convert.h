// `fratmae convert`: a PET/CT study as users have it (DICOM series or NIfTI) -> the AutoPET
// layout the rest of fratmae reads: SUV.nii.gz (PET grid), CT.nii.gz (CT grid),
// CTres.nii.gz (CT on the PET grid), SEG.nii.gz (labels given as a DICOM SEG or an RTSTRUCT
// ROI, on the PET grid) and study.json (what was done and from what).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/volume.h"
#include "io/dicom_series.h"

namespace fratmae::io {

// Inputs are named one way everywhere (`convert`, `predict`): --pet PATH and --ct PATH take a
// DICOM series' folder, one file of the series (the series it belongs to is read) or an image
// file (NIfTI/NRRD/MHA; PET already in SUVbw, CT in HU); resolved() tells them apart by what is
// there. --pet-dicom/--ct-dicom remain as the explicit spelling for a folder.
struct ConvertConfig {
  std::filesystem::path pet_dicom;        // folder with the PET series, or
  std::filesystem::path pet;              // a folder, DICOM file or image (see above)
  std::optional<std::string> pet_series;  // SeriesInstanceUID when the folder has several
  std::filesystem::path ct_dicom;         // optional: folder with the CT series, or
  std::filesystem::path ct;               // a folder, DICOM file or image in HU
  std::optional<std::string> ct_series;
  std::filesystem::path seg_dicom;       // optional: a DICOM SEG -> SEG.nii.gz on the PET grid
  std::vector<int> seg_segments;         // its segments to keep (empty: all, merged into one label)
  std::filesystem::path rtstruct;        // optional: an RTSTRUCT, whose ROI `roi` -> SEG.nii.gz
  std::string roi;                       // ROI name or number
  std::filesystem::path out;
  bool overwrite = false;
  bool allow_different_frames = false;  // accept CT and PET with different FrameOfReferenceUID

  /// Throws fratmae::Error saying which flags to fix.
  void validate() const;
  /// `pet`/`ct` given as a folder or a DICOM file moved to `pet_dicom`/`ct_dicom` (a file: its
  /// folder, with the file's series unless one is named). A DICOM file of another kind (a SEG,
  /// an RTSTRUCT, a CT given as the PET...) is a FileError naming the file and what it is.
  ConvertConfig resolved() const;
  nlohmann::json to_json() const;
};

struct ConvertedStudy {
  Volume suv;                    // float32 SUVbw on the PET grid
  std::optional<Volume> ct;      // HU on the CT grid
  std::optional<Volume> ct_res;  // HU on the PET grid
  std::optional<Volume> seg;     // uint8 0/1 lesion label on the PET grid (--seg-dicom, --rtstruct)
  nlohmann::json study;          // study.json
  std::optional<DicomSeries> pet_series;  // the PET's DICOM series, when it was read from one
};

/// Read and convert everything in memory (no file is written).
ConvertedStudy convert_study(const ConvertConfig& cfg);

/// Write a converted study into cfg.out atomically (all files or none).
void write_study(const ConvertedStudy& s, const ConvertConfig& cfg);

}  // namespace fratmae::io
