// `fratmae predict`: a fine-tuned model on one PET/CT study as users have it.
//
// The study is read like `fratmae convert` reads it (DICOM series, PET converted to SUV, or
// NIfTI/NRRD/MHA; the CT resampled onto the PET grid), normalised as the model's training
// cache was, and run in the canonical orientation. Outputs (all or none, in --out):
//   segmentation model:  SEG.nii.gz     lesion mask (uint8) on the PET grid, geometry copied exactly
//                        lesions.json   per lesion volume (mL), SUVmax, SUVmean, SUVpeak, TLG,
//                                       centroid; totals MTV, TLG, count (eval/lesion_stats.h)
//                        mip.png        coronal PET MIP with the lesions outlined, beside the CT MIP
//                        probability.nii.gz (with --probability) foreground probability
//   staging model:       stage.json     probabilities of early (I-II) and advanced (III-IV)
//   both:                prediction.json  model, inputs, settings, time and peak memory
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::io {

struct PredictConfig {
  std::filesystem::path model;  // fine-tuning run folder
  std::filesystem::path ct;     // CT: DICOM folder or image file
  std::filesystem::path pet;    // PET: DICOM folder (-> SUV) or SUV image file
  std::filesystem::path out;
  std::string device = "cpu";
  bool bf16 = true;
  bool tta = false;          // flip test-time augmentation
  double overlap = 0.5;      // sliding windows
  int64_t batch = 4;         // windows per forward pass
  bool probability = false;  // also write the probability map
  bool overwrite = false;
  void validate() const;
};

/// Runs the model and writes the outputs; returns prediction.json's content.
nlohmann::json predict_study(const PredictConfig& cfg);

}  // namespace fratmae::io
