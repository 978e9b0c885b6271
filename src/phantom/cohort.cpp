#include "phantom/cohort.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "phantom/imaging.h"

namespace fratmae::phantom {

void PhantomConfig::validate() const {
  if (preset != "small" && preset != "full")
    throw Error("phantom: --preset must be 'small' (coarse, for CPUs and tests) or 'full' (AutoPET-like grid), got '" + preset + "'");
  if (cohort != "autopet" && cohort != "hodgkin")
    throw Error("phantom: --cohort must be 'autopet' or 'hodgkin', got '" + cohort + "'");
  if (cases < 1 || cases > 100000) throw Error("phantom: --cases must be between 1 and 100000");
  if (device != "cpu" && device.rfind("cuda", 0) != 0)
    throw Error("phantom: --device must be 'cpu' or 'cuda[:N]'");
}

Grid preset_grid(const std::string& preset, const std::string& device) {
  Grid g;
  g.device = at::Device(device);
  if (preset == "full") {
    g.spacing = {2.0, 2.0, 3.0};
    g.size = {160, 256, 400};  // 320 x 512 x 1200 mm
  } else if (preset == "small") {
    g.spacing = {5.0, 5.0, 6.0};
    g.size = {64, 104, 200};  // 320 x 520 x 1200 mm
  } else {
    throw Error("unknown phantom preset '" + preset + "'");
  }
  return g;
}

std::string stage_roman(int stage) {
  static const char* names[] = {"", "I", "II", "III", "IV"};
  return stage >= 0 && stage <= 4 ? names[stage] : "";
}

std::string stage_group(int stage) {
  if (stage <= 0) return "";
  return stage <= 2 ? "early" : "advanced";
}

namespace {
// Independent generator streams per (seed, case, purpose).
at::Generator stream(uint64_t seed, int64_t index, uint64_t purpose) {
  uint64_t h = seed * 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(index) + 1) * 0xBF58476D1CE4E5B9ull ^
               purpose * 0x94D049BB133111EBull;
  h ^= h >> 31;
  return at::make_generator<at::CPUGeneratorImpl>(h);
}
}  // namespace

CaseMetadata sample_metadata(const PhantomConfig& cfg, int64_t index) {
  at::Generator gen = stream(cfg.seed, index, 1);
  CaseMetadata m;
  char id[32];
  std::snprintf(id, sizeof(id), "%s_%04lld", cfg.cohort == "hodgkin" ? "HODGKIN" : "PHANTOM",
                static_cast<long long>(index));
  m.case_id = id;
  const double u = uniform(gen, 0, 1);
  double age_mean = 61.4, age_sd = 15.6, male = 0.42;
  if (cfg.cohort == "hodgkin") {
    m.tracer = "18F-FDG";
    m.diagnosis = "hodgkin lymphoma";
    age_mean = 34.9;
    age_sd = 12.1;
    male = 0.622;
    const double v = uniform(gen, 0, 1);  // stage mix: I 15%, II 40%, III 20%, IV 25%
    m.stage = v < 0.15 ? 1 : v < 0.55 ? 2 : v < 0.75 ? 3 : 4;
  } else {
    // AutoPET III: 1,014 FDG studies (melanoma 188, lymphoma 145, lung cancer 168, negative
    // 513) and 597 PSMA studies (prostate cancer); 18F vs 68Ga PSMA split 60/40 (our choice).
    const double fdg = 1014.0 / 1611.0;
    if (u < fdg) {
      m.tracer = "18F-FDG";
      const double v = uniform(gen, 0, 1014);
      m.diagnosis = v < 188 ? "melanoma" : v < 333 ? "lymphoma" : v < 501 ? "lung cancer" : "negative control";
    } else {
      m.tracer = uniform(gen, 0, 1) < 0.6 ? "18F-PSMA" : "68Ga-PSMA";
      m.diagnosis = "prostate cancer";
      male = 1.0;
    }
  }
  m.sex = uniform(gen, 0, 1) < male ? "M" : "F";
  if (m.diagnosis == "prostate cancer") m.age = static_cast<int>(std::round(std::clamp(normal(gen, 70, 8), 45.0, 92.0)));
  else m.age = static_cast<int>(std::round(std::clamp(normal(gen, age_mean, age_sd), 18.0, 95.0)));
  const bool man = m.sex == "M";
  m.height_cm = std::round(normal(gen, man ? 177 : 165, 6.5));
  const double bmi = std::clamp(normal(gen, 26, 4), 17.0, 40.0);
  m.weight_kg = std::round(bmi * (m.height_cm / 100) * (m.height_cm / 100));
  return m;
}

PhantomCase generate_case(const PhantomConfig& cfg, int64_t index) {
  cfg.validate();
  PhantomCase c;
  c.meta = sample_metadata(cfg, index);
  c.grid = preset_grid(cfg.preset, cfg.device);
  at::Generator gen = stream(cfg.seed, index, 2);

  BodyParams body;
  body.male = c.meta.sex == "M";
  body.height_scale = c.meta.height_cm / 175.0;
  const double bmi = c.meta.weight_kg / std::pow(c.meta.height_cm / 100, 2);
  body.girth_scale = std::clamp(std::sqrt(bmi / 25.0), 0.82, 1.28);
  body.fat_mm = std::clamp(6.0 + (bmi - 18.0) * 1.6, 5.0, 40.0);
  body.arms = uniform(gen, 0, 1) < 0.2;

  const Painter painter(c.grid);
  std::tie(c.labels, c.anatomy) = build_anatomy(painter, body, gen);
  c.lesions = sample_lesions(c.meta.diagnosis, c.meta.stage, c.anatomy, gen);

  const Tracer tracer = parse_tracer(c.meta.tracer);
  const bool psma = tracer != Tracer::kFdg;
  for (Lesion& l : c.lesions) {
    // Contrast to the local background: mostly clear, some faint (only where big enough to
    // be seen through the scanner's blur), PSMA lesions brighter.
    const bool faint = l.diameter_mm() >= 10 && uniform(gen, 0, 1) < 0.15;
    l.contrast = faint ? uniform(gen, 1.6, 2.2) : log_uniform(gen, psma ? 4.0 : 2.5, psma ? 25.0 : 10.0);
    if (l.diameter_mm() < 8) l.contrast = std::max(l.contrast, 4.0);
  }

  const at::Tensor uptake = sample_uptake(tracer, gen).to(c.grid.device);
  at::Tensor activity = uptake.index({c.labels.to(at::kLong)});  // true SUV, [H, W, D]
  at::Tensor ct = ct_from_labels(c.labels, c.grid, gen);
  std::tie(c.seg, c.instances) = render_lesions(c.lesions, painter, c.labels, activity, ct, gen);
  c.ct = ct_noise(ct, c.labels, c.grid, gen);
  PetScanner scanner;
  scanner.fwhm_mm = tracer == Tracer::kPsma68Ga ? 7.5 : 6.5;
  scanner.noise_level = tracer == Tracer::kPsma68Ga ? 0.28 : 0.2;
  c.suv = pet_acquire(activity, c.grid, scanner, gen);
  return c;
}

}  // namespace fratmae::phantom
