// DICOM Segmentation objects (binary SEG, PS3.3 A.51) in and out, through DCMTK's dcmseg.
//
// Out: a lesion mask on the grid of a DICOM PET series becomes a SEG in a new series of the
// same patient and study, with the PET's frame of reference: one frame per slice that has a
// lesion voxel, each frame's Derivation Image Sequence naming its PET instance (purpose "Source
// image for image processing operation"), the Common Instance Reference module listing the PET
// series, one segment "Lesion" (category SCT 49755003 "Morphologically Altered Structure",
// type SCT 52988006 "Lesion"), algorithm type AUTOMATIC named fratmae with its version.
// Dimensions: referenced segment number, then image position (patient). An empty mask has no
// valid SEG (a Segmentation needs at least one frame): the caller says so instead.
//
// In: the frames of the chosen segments (all by default) placed by their Image Position
// (Patient) onto the SEG's own stack, then carried to a target grid by nearest neighbour, as
// a 0/1 mask. The frame of reference must match the target's unless told otherwise.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/volume.h"
#include "io/dicom_series.h"

namespace fratmae::io {

struct DicomSegWriteInfo {
  std::string algorithm_version;              // fratmae's version
  std::string series_description = "fratmae lesions";
  int series_number = 901;
  std::string content_label = "LESIONS";       // CS, 16 characters at most
  std::string content_description;            // e.g. the model and its step
};

/// Write `mask` ((nk, nj, ni) of `grid`, nonzero = lesion; `grid` = read_series(pet).geom) as a
/// binary SEG at `file` (written as is: stage it for atomicity). Returns the number of frames.
/// Throws Error when the mask is empty or does not match the series, FileError naming a PET
/// file DCMTK cannot use.
int64_t write_dicom_seg(const at::Tensor& mask, const Geometry& grid, const DicomSeries& pet,
                        const std::filesystem::path& file, const DicomSegWriteInfo& info);

struct DicomSegSegment {
  int number = 0;
  std::string label, category, type;  // code meanings
  int64_t frames = 0;
};

struct DicomSegLabels {
  Volume mask;  // uint8 0/1 on the target grid
  std::string frame_of_reference_uid, series_uid;
  std::string referenced_series_uid;  // the series its Common Instance Reference names first ("" if none)
  std::vector<DicomSegSegment> segments;  // every segment of the object
  std::vector<int> used;                  // the segment numbers put into the mask
};

/// Read a binary DICOM SEG onto `target` (a fractional one is refused). `segments` empty: all.
/// `target_frame_uid` (empty: not checked) must equal the SEG's FrameOfReferenceUID unless
/// `allow_different_frames`. Throws FileError naming `file` and the problem.
DicomSegLabels read_dicom_seg(const std::filesystem::path& file, const Geometry& target,
                              const std::string& target_frame_uid, const std::vector<int>& segments = {},
                              bool allow_different_frames = false);

}  // namespace fratmae::io
