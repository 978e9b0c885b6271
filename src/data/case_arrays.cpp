#include "data/case_arrays.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace fratmae::data {

namespace {
std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? " x " : "") << t.size(d);
  return s.str();
}
std::string num(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}
}  // namespace

CaseArrays case_from_volumes(const CaseMeta& meta, const Volume& ct, const Volume& suv,
                             const std::optional<Volume>& seg) {
  const std::string what = "case " + meta.id;
  ct.check(what + " CT");
  suv.check(what + " PET");
  suv.geom.validate(what + " PET");
  // 1e-3 mm / direction cosine: NIfTI stores float32 geometry, so exact equality is too strict.
  if (!ct.geom.same_grid(suv.geom, 1e-3))
    throw Error(what + ": CT and PET are not on the same grid (CT " + ct.geom.to_string() +
                "; PET " + suv.geom.to_string() +
                "); resample the CT onto the PET grid first (fratmae convert writes CTres.nii.gz)");
  if (seg && !seg->geom.same_grid(suv.geom, 1e-3))
    throw Error(what + ": SEG is not on the PET grid (SEG " + seg->geom.to_string() + "; PET " +
                suv.geom.to_string() + "); the lesion mask must be drawn on the PET grid");
  if (seg && seg->data.numel() > 0 && seg->data.max().item<double>() > 1)
    throw Error(what + ": SEG has values other than 0 and 1 (up to " + num(seg->data.max().item<double>()) +
                "); give a binary lesion mask (0 background, 1 lesion), as AutoPET's labels are");
  const Volume ct_c = to_canonical(Volume{ct.data, suv.geom});
  const Volume suv_c = to_canonical(suv);
  CaseArrays c;
  c.meta = meta;
  c.ct = ct_c.data.to(at::kFloat).contiguous();    // (H, W, D)
  c.suv = suv_c.data.to(at::kFloat).contiguous();  // (H, W, D)
  if (seg) c.seg = (to_canonical(Volume{seg->data, suv.geom}).data > 0).to(at::kByte).contiguous();
  // Canonical index axes 0, 1, 2 are D, W, H: spacing along (H, W, D) is reversed.
  c.spacing = {suv_c.geom.spacing[2], suv_c.geom.spacing[1], suv_c.geom.spacing[0]};
  c.source_geometry = suv.geom;
  return c;
}

void validate_case(const CaseArrays& c) {
  const std::string what = "case " + c.meta.id;
  if (!c.ct.defined() || !c.suv.defined()) throw Error(what + ": CT or PET missing");
  if (c.ct.dim() != 3 || c.suv.dim() != 3)
    throw Error(what + ": CT and PET must be 3-D volumes, got " + shape_str(c.ct) + " and " + shape_str(c.suv));
  if (!c.ct.sizes().equals(c.suv.sizes()))
    throw Error(what + ": CT (" + shape_str(c.ct) + ") and PET (" + shape_str(c.suv) +
                ") differ in size; resample the CT onto the PET grid first (fratmae convert writes CTres.nii.gz)");
  if (c.seg.defined() && !c.seg.sizes().equals(c.suv.sizes()))
    throw Error(what + ": SEG (" + shape_str(c.seg) + ") and PET (" + shape_str(c.suv) + ") differ in size");
  for (int a = 0; a < 3; ++a)
    if (!(c.spacing[a] > 0) || !std::isfinite(c.spacing[a]))
      throw Error(what + ": voxel spacing must be positive");
  const at::Tensor ct = c.ct.to(at::kFloat), suv = c.suv.to(at::kFloat);
  const int64_t bad_ct = (~at::isfinite(ct)).sum().item<int64_t>();
  const int64_t bad_pet = (~at::isfinite(suv)).sum().item<int64_t>();
  if (bad_ct || bad_pet)
    throw Error(what + ": " + std::to_string(bad_pet) + " PET and " + std::to_string(bad_ct) +
                " CT voxels are NaN or infinite; fix or exclude this study (--on-bad-case skip)");
  const double ct_min = ct.min().item<double>(), ct_max = ct.max().item<double>();
  if (ct_min > -500 || ct_max > 40000 || ct_min < -10000)
    throw Error(what + ": CT values range from " + num(ct_min) + " to " + num(ct_max) +
                ", which is not HU of a whole-body CT (air is about -1000 HU); is the CT rescaled "
                "(RescaleSlope/Intercept) or normalised already?");
  const double pet_min = suv.min().item<double>(), pet_max = suv.max().item<double>();
  if (pet_max > 1000)
    throw Error(what + ": PET values reach " + num(pet_max) +
                ", far above any SUV: is this activity in Bq/mL? convert it to SUVbw (fratmae convert)");
  if (pet_min < -10)
    throw Error(what + ": PET values go down to " + num(pet_min) + ", which is not an SUV (g/mL)");
  if (pet_max <= 0) throw Error(what + ": PET is zero everywhere; the SUV file is empty or wrong");
  if (c.seg.defined() && c.seg.max().item<int64_t>() > 1)
    throw Error(what + ": SEG has values other than 0 and 1; give a binary lesion mask");
}

}  // namespace fratmae::data
