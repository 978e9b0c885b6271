// Coronal maximum-intensity projections: how people look at whole-body PET.
#pragma once

#include <ATen/ATen.h>

#include <array>

namespace fratmae::viz {

struct MipOptions {
  double suv_max = 8.0;           // PET window 0..suv_max, shown black on white
  double ct_min = -200, ct_max = 1300;  // CT MIP window (bone shows white)
  double mm_per_pixel = 2.0;      // display resolution (isotropic)
};

/// A picture of one study: PET coronal MIP (inverted grey, lesions outlined in red) beside a
/// CT coronal MIP. Inputs are canonical [H, W, D] tensors (projection along H, anterior-
/// posterior): `suv` (SUV), `ct` (HU, may be undefined), `mask` (lesions, may be undefined).
/// `spacing_wd` is the (W, D) voxel size in mm. Returns uint8 [rows, cols, 3]; rows run
/// head to feet, columns from the patient's right to left (radiological convention).
at::Tensor render_mip(const at::Tensor& suv, const at::Tensor& ct, const at::Tensor& mask,
                      std::array<double, 2> spacing_wd, const MipOptions& opt = {});

}  // namespace fratmae::viz
