// Phantom cohorts: metadata drawn like the paper's Table 1, one whole-body PET/CT per case.
//
// `autopet`: 18F-FDG (melanoma, lymphoma, lung cancer, negative control) and PSMA (prostate
// cancer; 18F or 68Ga) in AutoPET III's proportions, age 61.4 +- 15.6, 63.7% men overall.
// `hodgkin`: 18F-FDG Hodgkin lymphoma, age 34.9 +- 12.1, 62.2% men, Ann Arbor I-IV.
// Every case is a pure function of (seed, case index, preset): same inputs, same bytes.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "phantom/anatomy.h"
#include "phantom/grid.h"
#include "phantom/lesions.h"
#include "phantom/tissue.h"

namespace fratmae::phantom {

struct PhantomConfig {
  std::string preset = "small";  // small | full
  std::string cohort = "autopet";  // autopet | hodgkin
  int64_t cases = 20;
  uint64_t seed = 0;
  std::string device = "cpu";
  void validate() const;  // throws fratmae::Error with what to fix
};

/// The voxel grid of a preset: `full` ~ AutoPET (2.0 x 2.0 x 3.0 mm, vertex to knees);
/// `small` (5 x 5 x 6 mm) for CPUs and tests.
Grid preset_grid(const std::string& preset, const std::string& device = "cpu");

struct CaseMetadata {
  std::string case_id;
  std::string tracer;     // 18F-FDG | 18F-PSMA | 68Ga-PSMA
  std::string diagnosis;  // melanoma | lymphoma | lung cancer | prostate cancer | negative control | hodgkin lymphoma
  int age = 0;
  std::string sex;  // M | F
  int stage = 0;    // Ann Arbor 1..4 for Hodgkin, 0 otherwise
  double weight_kg = 0, height_cm = 0;
};

/// Metadata of case `index` of a cohort.
CaseMetadata sample_metadata(const PhantomConfig& cfg, int64_t index);

struct PhantomCase {
  CaseMetadata meta;
  Grid grid;
  at::Tensor ct;         // float32 HU, [H, W, D] canonical
  at::Tensor suv;        // float32 SUVbw, [H, W, D]
  at::Tensor seg;        // uint8 lesion mask, [H, W, D]
  at::Tensor instances;  // uint8 lesion index (1..n), [H, W, D]
  at::Tensor labels;     // uint8 Tissue, [H, W, D]
  Anatomy anatomy;
  std::vector<Lesion> lesions;
};

/// Generate case `index` of the cohort.
PhantomCase generate_case(const PhantomConfig& cfg, int64_t index);

/// "I".."IV", or "" for 0.
std::string stage_roman(int stage);
/// "early" (I-II), "advanced" (III-IV) or "" for non-Hodgkin cases.
std::string stage_group(int stage);

}  // namespace fratmae::phantom
