#include "phantom/tissue.h"

#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>

#include "core/error.h"

namespace fratmae::phantom {

std::string tracer_name(Tracer t) {
  switch (t) {
    case Tracer::kFdg: return "18F-FDG";
    case Tracer::kPsma18F: return "18F-PSMA";
    case Tracer::kPsma68Ga: return "68Ga-PSMA";
  }
  return "?";
}

Tracer parse_tracer(const std::string& name) {
  if (name == "18F-FDG") return Tracer::kFdg;
  if (name == "18F-PSMA") return Tracer::kPsma18F;
  if (name == "68Ga-PSMA") return Tracer::kPsma68Ga;
  throw Error("unknown tracer '" + name + "' (expected 18F-FDG, 18F-PSMA or 68Ga-PSMA)");
}

namespace {
// Indexed by Tissue.
const std::array<TissueCt, kNumTissues> kCt = {{
    {-1000, 0},  // air
    {-100, 12},  // fat
    {45, 12},    // soft tissue
    {-850, 35},  // lung
    {30, 10},    // lung vessel
    {1100, 120}, // cortical bone
    {280, 60},   // marrow
    {35, 6},     // brain
    {45, 8},     // myocardium
    {40, 6},     // blood
    {60, 8},     // liver
    {50, 8},     // spleen
    {35, 8},     // kidney
    {8, 4},      // urine
    {25, 20},    // bowel
    {15, 15},    // stomach
    {30, 10},    // parotid
    {40, 8},     // submandibular
    {40, 8},     // lacrimal
    {40, 8},     // prostate
    {10, 4},     // csf
    {-850, 60},  // bowel gas
}};

struct Uptake {
  float fdg, psma;
};
// Typical SUVbw of healthy tissue, indexed by Tissue.
const std::array<Uptake, kNumTissues> kSuv = {{
    {0.0f, 0.0f},    // air
    {0.3f, 0.15f},   // fat
    {0.8f, 0.5f},    // soft tissue / muscle
    {0.5f, 0.3f},    // lung
    {1.6f, 1.2f},    // lung vessel (blood)
    {0.6f, 0.5f},    // cortical bone
    {1.5f, 0.9f},    // marrow
    {8.0f, 0.3f},    // brain
    {4.0f, 1.8f},    // myocardium (FDG drawn 1.5-12 per case)
    {1.7f, 1.3f},    // blood pool
    {2.2f, 6.0f},    // liver
    {1.9f, 7.0f},    // spleen
    {3.0f, 35.0f},   // kidney
    {25.0f, 25.0f},  // urine (drawn 8-60 per case)
    {1.8f, 6.0f},    // bowel
    {2.2f, 3.5f},    // stomach
    {1.8f, 16.0f},   // parotid
    {2.0f, 15.0f},   // submandibular
    {1.5f, 8.0f},    // lacrimal
    {2.0f, 4.0f},    // prostate
    {0.3f, 0.3f},    // csf
    {0.0f, 0.0f},    // bowel gas
}};
}  // namespace

const TissueCt& tissue_ct(Tissue t) { return kCt.at(t); }

double uniform(at::Generator& gen, double lo, double hi) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto* g = at::check_generator<at::CPUGeneratorImpl>(gen);
  const double u = static_cast<double>(g->random() >> 8) / static_cast<double>(1u << 24);
  return lo + (hi - lo) * u;
}

double normal(at::Generator& gen, double mean, double sd) {
  // Box-Muller on two uniform draws (deterministic across platforms).
  const double u1 = std::max(uniform(gen, 0.0, 1.0), 1e-12), u2 = uniform(gen, 0.0, 1.0);
  return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double log_uniform(at::Generator& gen, double lo, double hi) {
  return std::exp(uniform(gen, std::log(lo), std::log(hi)));
}

at::Tensor sample_uptake(Tracer tracer, at::Generator& gen) {
  at::Tensor suv = at::zeros({kNumTissues}, at::kFloat);
  auto a = suv.accessor<float, 1>();
  const bool fdg = tracer == Tracer::kFdg;
  for (int t = 0; t < kNumTissues; ++t) {
    const double typical = fdg ? kSuv[t].fdg : kSuv[t].psma;
    a[t] = static_cast<float>(typical * std::exp(normal(gen, 0.0, 0.15)));
  }
  if (fdg) {
    a[kMyocardium] = static_cast<float>(log_uniform(gen, 1.5, 12.0));
    a[kBrain] = static_cast<float>(uniform(gen, 6.0, 11.0));
  }
  a[kUrine] = static_cast<float>(log_uniform(gen, 8.0, 60.0));
  return suv;
}

}  // namespace fratmae::phantom
