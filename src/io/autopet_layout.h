// AutoPET as distributed: the nnU-Net layout of AutoPET III, and the clinical metadata tables
// of AutoPET (TCIA's FDG table, AutoPET III's PSMA table).
//
// AutoPET III (nnU-Net raw dataset):
//   DIR/dataset.json                  channel_names {"0": "CT", "1": "PET"} (names decide which
//                                     file is which), file_ending ".nii.gz"
//   DIR/imagesTr/<case>_0000<ending>  CTres: CT resampled to the PET grid
//   DIR/imagesTr/<case>_0001<ending>  SUV
//   DIR/labelsTr/<case><ending>       lesions, 0/1
//   DIR/imagesTs/ (and labelsTs/)     likewise, when present
// Without dataset.json, AutoPET III's order is assumed: _0000 CT, _0001 PET.
// Case ids: psma_<16 hex>_<YYYY-MM-DD> and fdg_<10 hex>_<TCIA study folder>; a study folder
// name contains spaces ("02-04-2006-NA-PET-CT Ganzkoerper  primaer mit KM-43376").
//
// Metadata tables (CSV), recognised by their columns:
//   FDG  (fdg_metadata.csv; TCIA's "Clinical Metadata FDG PET_CT Lesions.csv" for AutoPET I/II):
//        one row per series (CT, PT, SEG of each study); Subject ID (PETCT_<hex>), File Location
//        (./FDG-PET-CT-Lesions/PETCT_<hex>/<study folder>/<series folder>), diagnosis (MELANOMA,
//        LUNG_CANCER, LYMPHOMA, NEGATIVE), age (063Y), sex (M, F or empty). Tracer 18F-FDG; the
//        diagnosis is the study's.
//   PSMA (psma_metadata.csv): Subject ID (PSMA_<hex>), Study Date (YYYY-MM-DD), age (years),
//        pet_radionuclide (18F, 68Ga); prostate cancer, male.
// A study of either layout is found in them by its key: "fdg:<hex>/<study folder>" or
// "psma:<hex>/<YYYY-MM-DD>" (hex in lower case).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "data/metadata.h"

namespace fratmae::data {
struct CsvTable;
}

namespace fratmae::io {

struct NnUnetCase {
  std::string id;                    // <case>
  std::filesystem::path ct, pet, label;  // label empty when the case has none
};

/// Whether `dir` is an nnU-Net raw dataset (it has imagesTr/ or imagesTs/).
bool is_nnunet_dataset(const std::filesystem::path& dir);

/// The cases of an nnU-Net raw dataset, sorted by id. Throws FileError naming the file for a
/// dataset.json that does not say which channel is CT and which PET, a case missing a channel,
/// or a label without images.
std::vector<NnUnetCase> discover_nnunet(const std::filesystem::path& dir);

/// The study key of a case id of either layout (see top of file), or "" when it is neither an
/// AutoPET III id nor a path with a PETCT_<hex>/<study folder> pair.
std::string autopet_study_key(const std::string& case_id);

enum class MetadataForm { kFratmae, kFdg, kPsma };

/// Which table `t` is, from its columns; throws FileError naming the file when none.
MetadataForm metadata_form(const data::CsvTable& t);

/// An FDG or PSMA table as per-study metadata keyed by study key. Throws FileError naming the
/// file and line for a row that cannot be read (no subject id, an unreadable age).
std::map<std::string, data::CaseMeta> read_autopet_metadata(const data::CsvTable& t);

/// Names of metadata files recognised inside a dataset folder, in the order they are read.
const std::vector<std::string>& metadata_file_names();

}  // namespace fratmae::io
