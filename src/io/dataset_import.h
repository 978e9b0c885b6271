// Datasets on disk -> the preprocessed cache (`fratmae preprocess`).
//
// Layouts found under --data (searched up to three folders deep, sorted):
//   AutoPET:          DIR/<case>/{CTres,SUV[,SEG]}.nii.gz   (also DIR/<patient>/<study>/...,
//                     as in TCIA's FDG-PET-CT-Lesions), metadata in DIR/metadata.csv or --metadata
//   fratmae convert:  DIR/<case>/{SUV,CTres}.nii.gz + study.json (tracer, sex, age from DICOM);
//                     DIR itself may be one such study
//   fratmae phantom:  the AutoPET layout with metadata.csv
// Any of .nii.gz, .nii, .nrrd, .mha is accepted for each image. A case is the folder's path
// relative to DIR ("PETCT_0af7/08-12-2005-..."); a metadata CSV row matches it by that path, the
// folder's own name or, when unique, its first component.
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

/// Finds the cases under `data_dir` (see top of file). `metadata_csv` empty: DIR/metadata.csv
/// when present. `exclude`: a folder not to search (the cache, if inside DIR). Throws
/// FileError naming the folder when there is no case at all.
std::vector<DatasetCase> discover_dataset(const std::filesystem::path& data_dir,
                                          const std::filesystem::path& metadata_csv = {},
                                          const std::filesystem::path& exclude = {});

/// Reads and checks one case (grids match, values finite, plausible units) into canonical
/// arrays. Throws fratmae::Error / FileError naming the case and file.
data::CaseArrays load_dataset_case(const DatasetCase& c);

/// A build job for the case; its signature covers the files' paths, sizes and modification
/// times and the metadata, so a changed input is preprocessed again.
data::CaseJob dataset_job(const DatasetCase& c);

struct PreprocessConfig {
  std::filesystem::path data, metadata, out;
  data::CacheSettings settings;
  data::BuildOptions build;
  bool overwrite = false;
  void validate() const;  // throws fratmae::Error saying which flag to fix
};

/// `fratmae preprocess`: discover, then build the cache incrementally (data/cache_writer.h).
data::BuildReport preprocess_dataset(const PreprocessConfig& cfg);

}  // namespace fratmae::io
