// DICOM series: finding them in a folder, reading one into a Volume, reading PET SUV fields.
//
// Slices are read one file at a time through ITK's GDCM reader, so each slice's own
// RescaleSlope and RescaleIntercept is applied (GE writes a different slope per slice),
// then stacked in order of position along the slice normal. The geometry is the DICOM
// geometry in ITK's LPS convention: origin = ImagePositionPatient of the first slice,
// direction columns = row cosine, column cosine, slice normal.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/volume.h"
#include "io/suv.h"

namespace fratmae::io {

struct DicomSeries {
  std::filesystem::path folder;
  std::string series_uid, modality, description, frame_of_reference_uid, sop_class_uid;
  std::vector<std::filesystem::path> files;  // sorted by position along the slice normal
  bool has_pixels = true;  // false for RTSTRUCT, SR and other non-image objects
};

/// Every series under `dir` (not recursive). Files that are not DICOM are skipped if their
/// name says they are something else (.txt, .json, ...); a .dcm file or an extension-less
/// file that cannot be parsed is an error naming the file.
std::vector<DicomSeries> scan_dicom_folder(const std::filesystem::path& dir);

/// What one DICOM file belongs to. nullopt when `file` is not DICOM: no "DICM" preamble and no
/// .dcm/.ima name. A file that says it is DICOM but cannot be parsed is a FileError naming it.
struct DicomFileIdentity {
  std::string series_uid, modality, sop_class_uid;
};
std::optional<DicomFileIdentity> dicom_file_identity(const std::filesystem::path& file);

/// Readers' words for a modality code ("SEG" -> "a DICOM SEG (segmentation)", "PT" -> "a PET
/// image", ...), for messages.
std::string modality_in_words(const std::string& modality);

/// The image series to read from `dir`: the only one with pixels, or the one with `uid`.
/// `role` ("PET", "CT") is used in messages. Throws listing the candidates when ambiguous.
DicomSeries pick_series(const std::filesystem::path& dir, const std::optional<std::string>& uid,
                        const std::string& role);

/// Read the series as float32 voxels in stored units after per-slice rescale.
/// Throws FileError naming the offending file on unreadable slices, inconsistent slices
/// (size, orientation), duplicate positions or non-uniform slice spacing (gaps).
Volume read_series(const DicomSeries& series);

/// The header fields SUV needs, from the series' files (acquisition times from all files).
PetHeader read_pet_header(const DicomSeries& series);

/// A few descriptive header fields of the series' first file, for study.json.
struct SeriesInfo {
  std::string manufacturer, patient_age, study_date;
};
SeriesInfo read_series_info(const DicomSeries& series);

}  // namespace fratmae::io
