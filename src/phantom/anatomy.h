// The whole-body anatomy of one phantom case: a tissue label map built from analytic shapes.
//
// A body outline that changes along the body axis (head, neck, shoulders and thorax,
// abdomen, pelvis, thighs), subcutaneous fat over muscle, skull and brain, salivary and
// lacrimal glands, spine with vertebrae, ribs, sternum, lungs with vessels, heart (myocardium
// around blood pool), aorta and iliac arteries, liver, spleen, stomach, kidneys with renal
// pelvis, bowel loops with gas, bladder, prostate (men), pelvic bones and femurs.
// Sizes are for an adult; each case scales height (sex, random) and girth (random).
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "phantom/grid.h"

namespace fratmae::phantom {

struct BodyParams {
  double height_scale = 1.0;  // along s (1.0 = a 175 cm man)
  double girth_scale = 1.0;   // along x and y (0.85 thin .. 1.25 heavy)
  double fat_mm = 15.0;       // subcutaneous fat over the trunk
  bool male = true;
  bool arms = false;  // arms down beside the trunk (most PET/CT is arms-up, out of view)
};

/// Named places of the case's anatomy that lesions and staging refer to (body mm).
struct Anatomy {
  BodyParams body;
  double diaphragm_s = 0;  // dome of the diaphragm: the Ann Arbor divide
  Vec3 lung_centre[2], lung_radius;  // [0] right, [1] left
  Vec3 liver_centre, liver_radius;
  Vec3 spleen_centre, spleen_radius;
  Vec3 kidney_centre[2], kidney_radius;
  Vec3 prostate_centre, prostate_radius;
  Vec3 bladder_centre, bladder_radius;
  std::vector<Vec3> vertebra_centres;  // vertebral bodies
  Vec3 iliac_centre[2];
  Vec3 femur_top[2], femur_bottom[2];
  /// Half width (x) and half depth (y) of the trunk at level s (mm).
  std::pair<double, double> trunk_halfaxes(double s) const;
  /// Scaled from the template's s (a 175 cm man) to this case.
  double at_s(double template_s) const { return template_s * body.height_scale; }
};

/// Build the label map (uint8 Tissue values, [H, W, D]) and the named places.
/// `gen` draws the case's small random variations (bowel loops, vessels).
std::pair<at::Tensor, Anatomy> build_anatomy(const Painter& p, const BodyParams& body,
                                             at::Generator& gen);

}  // namespace fratmae::phantom
