// One study as preprocessing takes it: CT, PET (and lesion mask) on one grid, in the
// canonical layout [H, W, D] = [anterior->posterior, right->left, superior->inferior]
// (core/volume.h), with the metadata and where it came from.
//
// io/dataset_import builds these from NIfTI files; data/phantom_source from the phantom
// generator (no ITK); tests build them by hand.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>

#include "core/volume.h"
#include "data/metadata.h"

namespace fratmae::data {

struct CaseArrays {
  CaseMeta meta;
  at::Tensor ct;                      // (H, W, D) float32 HU
  at::Tensor suv;                     // (H, W, D) float32 SUVbw (g/mL)
  at::Tensor seg;                     // (H, W, D) uint8 0/1 lesion mask, or undefined
  std::array<double, 3> spacing{1, 1, 1};  // mm along H, W, D
  Geometry source_geometry;           // ITK geometry of the source grid (before reorientation)
  nlohmann::json sources = nlohmann::json::object();  // file paths etc., recorded in the cache
};

/// Build a case from volumes read by ITK (any orientation): checks that CT, PET (and SEG) lie
/// on one grid, reorients them to [H, W, D], binarises the mask. Throws fratmae::Error with a
/// message that names the case and what to do.
CaseArrays case_from_volumes(const CaseMeta& meta, const Volume& ct, const Volume& suv,
                             const std::optional<Volume>& seg);

/// Checks a case before preprocessing: shapes agree, values finite, units plausible
/// (CT in HU with air below -500, PET in SUV: no values below -10 or above 1000, not all zero),
/// mask 0/1. Throws fratmae::Error("case <id>: <problem>; <what to do>").
void validate_case(const CaseArrays& c);

}  // namespace fratmae::data
