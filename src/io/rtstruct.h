// RT Structure Sets (RTSTRUCT) in: one ROI's closed planar contours rasterised onto an image
// grid, read through DCMTK's dcmdata.
//
// Each CLOSED_PLANAR contour is placed on the slice of the grid it lies in (its points mapped to
// continuous voxel indices; every point within 0.1 slice of one slice, else an error) and filled
// by the even-odd rule at voxel centres (a voxel belongs to the contour when its centre lies
// inside the polygon). The contours of the ROI on one slice are combined by XOR, so a contour
// inside another is a hole (PS3.3 C.8.8.6: inner contours of one ROI on a plane describe holes).
// POINT and OPEN_PLANAR / OPEN_NONPLANAR contours enclose nothing: skipped and counted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/volume.h"

namespace fratmae::io {

struct RtRoi {
  int number = 0;
  std::string name, frame_of_reference_uid;
  int64_t contours = 0;
};

/// The ROIs of an RTSTRUCT, in file order. Throws FileError naming the file when it is not an
/// RT Structure Set.
std::vector<RtRoi> rtstruct_rois(const std::filesystem::path& file);

/// "1 GTV_Mass (12 contours), 2 GTV_Edema (14 contours)", for messages.
std::string describe_rois(const std::vector<RtRoi>& rois);

struct RtStructLabels {
  Volume mask;  // uint8 0/1 on the grid given
  RtRoi roi;
  std::string referenced_series_uid;  // the image series the structure set was drawn on ("" if unnamed)
  int64_t contours_filled = 0, skipped_points = 0, skipped_open = 0, slices = 0;
};

/// The series the RTSTRUCT references (RT Referenced Series Sequence), "" when it names none.
std::string rtstruct_referenced_series(const std::filesystem::path& file);

/// ROI `roi` (its name, or its ROI Number) rasterised onto `grid`. A missing ROI is a FileError
/// listing them; the ROI's frame of reference must equal `grid_frame_uid` (when both are known)
/// unless `allow_different_frames`; a contour off the grid's slices or outside it is an error.
RtStructLabels rasterise_rtstruct(const std::filesystem::path& file, const std::string& roi, const Geometry& grid,
                                  const std::string& grid_frame_uid, bool allow_different_frames = false);

/// The even-odd fill of one polygon (vertices (u, v) in voxel index units: u along columns i, v
/// along rows j) on an (rows, cols) uint8 slice, XORed into it. Exposed for tests.
void xor_polygon(at::Tensor& slice, const std::vector<std::array<double, 2>>& polygon);

}  // namespace fratmae::io
