// Datasets on disk -> the preprocessed cache (`fratmae preprocess`).
//
// Layouts found under --data (searched up to three folders deep, sorted):
//   AutoPET III:      the nnU-Net raw dataset as distributed (DIR/dataset.json, imagesTr/,
//                     labelsTr/; io/autopet_layout.h), with fdg_metadata.csv / psma_metadata.csv
//   AutoPET I/II:     DIR/<case>/{CTres,SUV[,SEG]}.nii.gz   (also DIR/<patient>/<study>/...,
//                     as in TCIA's FDG-PET-CT-Lesions), with TCIA's clinical metadata CSV
//   fratmae convert:  DIR/<case>/{SUV,CTres}.nii.gz + study.json (tracer, sex, age from DICOM);
//                     DIR itself may be one such study
//   fratmae phantom:  the AutoPET layout with metadata.csv
// Any of .nii.gz, .nii, .nrrd, .mha is accepted for each image. A case is the folder's path
// relative to DIR ("PETCT_0af7/08-12-2005-...") or the nnU-Net case name. Metadata: the files
// given with --metadata, else those in DIR (metadata.csv, fdg_metadata.csv, psma_metadata.csv,
// "Clinical Metadata FDG PET_CT Lesions.csv"). A row of fratmae's own table matches a case by its
// path, the folder's own name or, when unique, its first component; a row of AutoPET's tables by
// the study (io/autopet_layout.h).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/cache_writer.h"

namespace fratmae::io {

struct DatasetCase {
  std::string id;
  std::filesystem::path dir, suv, ct, seg;  // ct / seg empty when absent
  std::filesystem::path metadata_source;    // the CSV or study.json the metadata came from
  data::CaseMeta meta;
};

/// Finds the cases under `data_dir` (see top of file). `metadata` empty: the tables found in
/// DIR. `exclude`: a folder not to search (the cache, if inside DIR). Throws FileError naming the
/// folder when there is no case at all, or naming a metadata file that cannot be read.
std::vector<DatasetCase> discover_dataset(const std::filesystem::path& data_dir,
                                          const std::vector<std::filesystem::path>& metadata = {},
                                          const std::filesystem::path& exclude = {});

/// The image cases under `data_dir` (the layouts above), without metadata; empty when none.
std::vector<DatasetCase> find_image_cases(const std::filesystem::path& data_dir,
                                          const std::filesystem::path& exclude = {});

/// Reads and checks one case (grids match, values finite, plausible units) into canonical
/// arrays. Throws fratmae::Error / FileError naming the case and file.
data::CaseArrays load_dataset_case(const DatasetCase& c);

/// A build job for the case; its signature covers the files' paths, sizes and modification
/// times and the metadata, so a changed input is preprocessed again.
data::CaseJob dataset_job(const DatasetCase& c);

struct PreprocessConfig {
  std::filesystem::path data, out;
  std::vector<std::filesystem::path> metadata;  // empty: the tables found in `data`
  data::CacheSettings settings;
  data::BuildOptions build;
  bool overwrite = false;
  std::string shard;  // "I/N": this process' share of the cases (core/shard.h); "" = from the environment
  void validate() const;  // throws fratmae::Error saying which flag to fix
};

/// `fratmae preprocess`: discover, then build the cache incrementally (data/cache_writer.h).
data::BuildReport preprocess_dataset(const PreprocessConfig& cfg);

}  // namespace fratmae::io
