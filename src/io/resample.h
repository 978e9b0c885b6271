// Resampling a volume onto another grid (ITK's ResampleImageFilter, identity transform:
// both volumes must share a frame of reference).
#pragma once

#include "core/volume.h"

namespace fratmae::io {

enum class Interpolation { kLinear, kNearest };

/// `moving` resampled onto `target` (size, spacing, origin, direction). Points of the target
/// grid outside `moving` get `outside`. float32 in, float32 out for kLinear; labels (any dtype)
/// keep their dtype with kNearest.
Volume resample(const Volume& moving, const Geometry& target, Interpolation interp,
                double outside);

/// AutoPET's CTres: CT (HU) linearly resampled onto the PET grid, -1024 HU outside the CT.
inline Volume resample_ct_to_pet(const Volume& ct, const Geometry& pet) {
  return resample(ct, pet, Interpolation::kLinear, -1024.0);
}

/// A label map onto another grid by nearest neighbour, 0 outside.
inline Volume resample_labels(const Volume& labels, const Geometry& target) {
  return resample(labels, target, Interpolation::kNearest, 0.0);
}

}  // namespace fratmae::io
