// `fratmae predict`: a fine-tuned model on one PET/CT study as users have it, or (--floor) one
// of the classic threshold segmentations that every model should beat (eval/reference_floors.h).
//
// The study is read like `fratmae convert` reads it (DICOM series, PET converted to SUV, or
// NIfTI/NRRD/MHA; the CT resampled onto the PET grid), normalised as the model's training
// cache was, and run in the canonical orientation. Outputs (all or none, in --out):
//   segmentation model:  SEG.nii.gz     lesion mask (uint8) on the PET grid, geometry copied exactly
//                        SEG.dcm        (a DICOM PET with lesions found) the mask as a DICOM SEG in a
//                                       new series of the PET's study (io/dicom_seg.h); none when
//                                       nothing is found, which prediction.json says;
//                                       --send AET@HOST:PORT stores it to a PACS (C-STORE)
//                                       before the outputs are committed
//                        lesions.json   per lesion volume (mL), SUVmax, SUVmean, SUVpeak, TLG,
//                                       centroid; totals MTV, TLG, count (eval/lesion_stats.h)
//                        mip.png        coronal PET MIP with the lesions outlined, beside the CT MIP
//                        probability.nii.gz (with --probability) foreground probability
//   staging model:       stage.json     probabilities of early (I-II) and advanced (III-IV)
//   both:                prediction.json  model, inputs, settings, time and peak memory
// A floor writes what a segmentation model writes (its CT, when given, only finds the body).
// The sliding windows overlap as in the run's own test evaluation unless --overlap says
// otherwise, so that `predict` delivers what the run's scores describe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fratmae::train {
struct DownstreamModel;
}

namespace fratmae::io {

struct PredictConfig {
  std::filesystem::path model;  // fine-tuning run folder
  std::string floor;            // instead of a model: suv2.5 | suv4.0 | suvmax41
  std::filesystem::path ct;     // CT: DICOM folder or image file
  std::filesystem::path pet;    // PET: DICOM folder (-> SUV) or SUV image file
  std::filesystem::path input;  // instead of pet/ct: a folder of studies (io/predict_folder.h)
  std::string shard;            // with input: "I/N", this process' share (core/shard.h); "" = environment
  std::filesystem::path out;
  std::string device = "cpu";
  bool bf16 = true;
  bool tta = false;          // flip test-time augmentation
  double overlap = -1;       // sliding windows; < 0: the overlap of the run's test evaluation
  int64_t batch = 4;         // windows per forward pass
  bool probability = false;  // also write the probability map
  bool report = true;        // report.html: the study, its mask and lesions in a viewer (io/report_html.h)
  double report_max_mb = 200;  // above this (compressed NIfTI, all volumes) the page embeds them at half resolution
  bool overwrite = false;
  std::string send;          // AET@HOST:PORT: store SEG.dcm there (DICOM C-STORE)
  void validate() const;
};

/// Runs the model and writes the outputs; returns prediction.json's content.
nlohmann::json predict_study(const PredictConfig& cfg);

/// The same with a model already loaded from cfg.model (train::load_finetuned), for many
/// studies; with cfg.floor the model is not used.
nlohmann::json predict_study(const PredictConfig& cfg, train::DownstreamModel& model);

}  // namespace fratmae::io
