// `fratmae predict --input DIR --out OUT`: one model (or floor) over every study of a folder.
//
// Studies: the image layouts `preprocess` reads (AutoPET III's nnU-Net folder, AutoPET I/II's
// case folders, fratmae's own; io/dataset_import.h), and DICOM: each sub-folder of DIR that
// holds (at most three folders down) one PET series, and optionally one CT series, is a study
// named after the sub-folder. The model is loaded once. Per study:
//   OUT/<case>/          everything single-study `predict` writes (io/predict.h)
//   OUT/<case>.nii.gz    (segmentation) the mask, named as nnU-Net and AutoPET's evaluation read it
//                        ('/' in a case id becomes '__')
// A study whose OUT/<case>/prediction.json exists is skipped (already done; --overwrite redoes
// it); a study that fails is reported and the others go on. OUT/summary.json lists every study
// (done, skipped, failed with the error) and a table is printed at the end; the command fails
// when any study failed. One process at a time per OUT (a lock).
//
// Many processes (core/shard.h: `--shard I/N`, torchrun's RANK/WORLD_SIZE, srun's
// SLURM_PROCID/SLURM_NTASKS, a SLURM array): shard I predicts the studies whose index in the
// sorted list is I modulo N, under a lock of its own (OUT/.fratmae.lock-I-of-N), and writes
// OUT/summary-I-of-N.json; the shard that finds all N shard summaries of the same job (SLURM's
// or torchrun's job id, the same input, model and study list) merges them into OUT/summary.json,
// as one process would have written it. Each shard fails only for its own studies.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/predict.h"

namespace fratmae::io {

struct FolderStudy {
  std::string id;
  std::filesystem::path pet, ct;  // an image file or a DICOM series' first file; ct may be empty
  std::string kind;               // "image" or "dicom"
};

/// The studies under `dir`, sorted by id; `exclude` (the output folder) is not searched.
/// Throws FileError naming `dir` when it holds none.
std::vector<FolderStudy> discover_studies(const std::filesystem::path& dir, const std::filesystem::path& exclude = {});

/// The file name stem of a case id in OUT (nnU-Net naming): '/' -> "__".
std::string output_stem(const std::string& case_id);

/// Runs cfg (cfg.input set, cfg.pet/ct empty) over every study of this shard; returns this
/// shard's summary (summary.json's content for a single process).
nlohmann::json predict_folder(const PredictConfig& cfg);

}  // namespace fratmae::io
