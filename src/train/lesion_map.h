// Staging from a segmentation: a fine-tuned segmentation model's lesions become the PET of a
// staging cohort, so that a staging head reads where the lesions are instead of the raw uptake,
// in which physiological organs (brain, heart, kidneys, bladder) outshine most nodes.
// docs/experiments.md, "Where staging loses the lesions": on the exploration cohorts the
// no-encoder head (`finetune --pool input`) stages such a lesion map at 0.78-0.80 where the
// images give chance.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/cache_writer.h"

namespace fratmae::train {

/// The SUV a predicted lesion voxel gets, and every other voxel: above zero, so that a case in
/// which the model finds nothing is still a valid PET.
constexpr float kLesionMapSuv = 10.0f, kLesionMapBackground = 0.1f;

/// `jobs` with each case's PET replaced by the lesion mask that the segmentation run `seg_run`
/// predicts on it (sliding windows with the run's own evaluation settings, as `fratmae predict`
/// without --overlap): kLesionMapSuv inside, kLesionMapBackground elsewhere; CT, true mask and
/// metadata unchanged. Each signature also holds the checkpoint's record (its weights' SHA-256), so
/// that a retrained model rebuilds the cases. The model is loaded once, on `device`, and its use is serialised: build
/// the cache with one worker. Throws fratmae::Error (FileError naming the run) when `seg_run`
/// is not a fine-tuned segmentation run.
std::vector<data::CaseJob> lesion_map_jobs(std::vector<data::CaseJob> jobs, const std::filesystem::path& seg_run,
                                           const std::string& device = "cpu", bool bf16 = true);

}  // namespace fratmae::train
