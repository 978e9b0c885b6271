// Lesions of a phantom case: where they are, how they look, and Ann Arbor staging.
//
// Lesions sit in lymph-node stations or in organs (lung, liver, spleen, bone, prostate).
// Ann Arbor staging (Hodgkin lymphoma) follows from the regions involved:
//   I    one nodal region
//   II   two or more nodal regions on one side of the diaphragm
//   III  nodal regions on both sides (the spleen counts as nodal tissue)
//   IV   disseminated extranodal involvement (lung, liver, bone marrow)
// and early = I-II, advanced = III-IV (the GHSG grouping used in the paper).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>
#include <vector>

#include "phantom/anatomy.h"
#include "phantom/tissue.h"

namespace fratmae::phantom {

enum class Site {
  kCervicalR, kCervicalL, kSupraclavicularR, kSupraclavicularL, kAxillaryR, kAxillaryL,
  kMediastinal, kHilarR, kHilarL, kParaAortic, kMesenteric, kIliacR, kIliacL, kInguinalR,
  kInguinalL,
  // organs
  kSpleen, kLung, kLiver, kBone, kProstate,
  kNumSites
};

std::string site_name(Site s);
bool is_nodal(Site s);          // a lymph-node station
bool is_extranodal(Site s);     // lung, liver, bone, prostate (not the spleen)

/// Ann Arbor region of a site: cervical and supraclavicular of one side form one region.
std::string ann_arbor_region(Site s);

struct Lesion {
  Site site;
  Vec3 centre;                       // body mm
  Vec3 radii;                        // principal semi-axes, mm
  std::array<double, 9> rotation{};  // principal axes (columns), row-major in x, y, s
  double contrast = 3;               // lesion SUV / local background SUV
  double suv = 0;                    // filled by the renderer: the lesion's true SUV
  int voxels = 0;                    // filled by the renderer: voxels in the mask
  double diameter_mm() const { return 2.0 * std::cbrt(radii.x * radii.y * radii.s); }
};

/// The node station or organ a point lies in, judged from the case's anatomy alone
/// (organ ellipsoids first, then the nearest node station). Used to stage from positions.
Site site_at(const Vec3& p, const Anatomy& an);

/// Nominal centre of a node station in this case's anatomy.
Vec3 station_centre(Site s, const Anatomy& an);

/// Ann Arbor stage (1..4) from lesion positions (via site_at); 0 when there are none.
int ann_arbor_stage(const std::vector<Vec3>& lesion_centres, const Anatomy& an);

/// Lesions for a case with `diagnosis` ("melanoma", "lymphoma", "lung cancer",
/// "prostate cancer", "negative control", "hodgkin lymphoma"). For Hodgkin, `stage` (1..4)
/// chooses sites so that the case has that Ann Arbor stage.
std::vector<Lesion> sample_lesions(const std::string& diagnosis, int stage, const Anatomy& an,
                                   at::Generator& gen);

}  // namespace fratmae::phantom
