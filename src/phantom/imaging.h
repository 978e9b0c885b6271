// From tissue labels and lesions to CT (HU) and PET (SUV) images.
//
// CT: each tissue's HU plus a smooth tissue texture and white scanner noise.
// PET: each tissue's SUV (drawn per case and tracer), lesions at `contrast` times their
// local background, blurred to the scanner's resolution (Gaussian, FWHM ~6-7 mm; 68Ga
// wider for its positron range), then count-dependent noise: smooth noise whose standard
// deviation grows with the square root of the local activity.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "phantom/grid.h"
#include "phantom/lesions.h"

namespace fratmae::phantom {

/// Separable Gaussian blur of a [H, W, D] tensor with standard deviation sigma_mm (per axis
/// spacing from `g`). Built from shifted, weighted sums: deterministic on every device and
/// thread count. Edges are replicated.
at::Tensor gaussian_blur(const at::Tensor& v, const Grid& g, double sigma_mm);

/// Paint the lesions into the label-derived images: returns the binary mask (uint8) and the
/// instance map (uint8, lesion i+1; 0 background). Sets each lesion's `suv` and `voxels`.
/// `activity` (true SUV) and `ct` (HU) are modified in place.
std::pair<at::Tensor, at::Tensor> render_lesions(std::vector<Lesion>& lesions, const Painter& p,
                                                 const at::Tensor& labels, at::Tensor& activity,
                                                 at::Tensor& ct, at::Generator& gen);

/// Noise-free CT from labels (float32 HU).
at::Tensor ct_from_labels(const at::Tensor& labels, const Grid& g, at::Generator& gen);
/// Add the texture and scanner noise to a CT.
at::Tensor ct_noise(const at::Tensor& ct, const at::Tensor& labels, const Grid& g, at::Generator& gen);

struct PetScanner {
  double fwhm_mm = 6.5;      // system resolution
  double noise_level = 0.2;  // relative sd of the noise at SUV 1 per (4 mm)^3 voxel
};

/// The measured PET image (float32 SUV, >= 0) from the true activity.
at::Tensor pet_acquire(const at::Tensor& activity, const Grid& g, const PetScanner& scanner,
                       at::Generator& gen);

}  // namespace fratmae::phantom
