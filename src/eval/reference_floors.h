// Classic PET lesion segmentations: the reference floors every learned model is scored beside.
//
//   suv2.5    SUV >= 2.5 inside the body (the usual fixed-threshold MTV rule for FDG)
//   suv4.0    SUV >= 4.0 inside the body
//   suvmax41  per hot region: the 18-connected components of SUV >= 2.5 inside the body, each
//             cut at 41% of its own SUVmax (the EANM convention for metabolic tumour volume;
//             Boellaard et al., EJNMMI 2015, 42:328); the voxels kept are those of the region
//             at or above its cut, so a region whose SUVmax is below 2.5 / 0.41 = 6.1 stays whole
//
// "Inside the body": every voxel but the air around the patient, i.e. but the components of
// CT < -500 HU that touch the border of the volume (lungs, bowel gas and the airways stay inside).
// Without a CT the whole volume counts as body.
//
// None of these knows physiological uptake (brain, heart, kidneys, bladder) from a lesion:
// that is what a learned model has to add, and why a model that does not beat them has not
// learnt the task.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace fratmae::eval {

/// The floors' names, in report order: suv2.5, suv4.0, suvmax41.
const std::vector<std::string>& reference_floors();

/// Body mask (uint8, (H, W, D)) of a CT in HU: not the air connected to the volume's border.
at::Tensor body_mask(const at::Tensor& ct_hu, double air_hu = -500.0);

/// The floor `method` (see reference_floors()) on an SUV volume (H, W, D); `body` (uint8, same
/// shape) or undefined for the whole volume. Returns a uint8 mask. Throws fratmae::Error for an
/// unknown method or mismatched shapes.
at::Tensor floor_segmentation(const std::string& method, const at::Tensor& suv, const at::Tensor& body);

}  // namespace fratmae::eval
