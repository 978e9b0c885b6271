// Tissues of the whole-body phantom and their CT and PET values.
//
// CT values are typical attenuation in HU; PET values are typical SUVbw (g/mL) of healthy
// tissue at 60 min p.i. for 18F-FDG and PSMA ligands (PSMA-11 / PSMA-1007 biodistribution:
// high in salivary and lacrimal glands, kidneys, liver, spleen, small bowel; low in brain).
// Each case draws its own organ uptake around these values (see sample_uptake()).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace fratmae::phantom {

enum Tissue : uint8_t {
  kAir = 0,
  kFat,
  kSoftTissue,  // muscle and other soft tissue
  kLung,
  kLungVessel,
  kCorticalBone,
  kMarrow,  // cancellous bone with marrow
  kBrain,
  kMyocardium,
  kBlood,  // heart cavities, aorta
  kLiver,
  kSpleen,
  kKidney,
  kUrine,  // renal pelvis, bladder
  kBowel,
  kStomach,
  kParotid,
  kSubmandibular,
  kLacrimal,
  kProstate,
  kCsf,
  kBowelGas,
  kNumTissues
};

enum class Tracer { kFdg, kPsma18F, kPsma68Ga };

/// "18F-FDG", "18F-PSMA", "68Ga-PSMA".
std::string tracer_name(Tracer t);
/// Inverse of tracer_name; throws fratmae::Error on an unknown name.
Tracer parse_tracer(const std::string& name);

struct TissueCt {
  float hu;       // mean attenuation
  float texture;  // standard deviation of the tissue's own (spatially smooth) texture, HU
};

/// CT properties of every tissue, indexed by Tissue.
const TissueCt& tissue_ct(Tissue t);

/// Per-case SUV of every tissue for `tracer` (a float tensor of kNumTissues values), drawn
/// around the typical values with `gen`: organ-to-organ variation of about 15%, and the
/// wide physiological ranges where they are real (myocardium on FDG 1.5-12, urine 8-60).
at::Tensor sample_uptake(Tracer tracer, at::Generator& gen);

/// Uniform draw in [lo, hi) from `gen` (CPU generator); the building block of all sampling.
double uniform(at::Generator& gen, double lo, double hi);
/// Normal draw.
double normal(at::Generator& gen, double mean, double sd);
/// Log-uniform draw in [lo, hi).
double log_uniform(at::Generator& gen, double lo, double hi);

}  // namespace fratmae::phantom
