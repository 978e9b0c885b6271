// AutoPET as distributed: nnU-Net folders of AutoPET III, its case ids (spaces included), and
// the FDG and PSMA metadata tables in their published shapes.
#include <gtest/gtest.h>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/csv_table.h"
#include "io/autopet_layout.h"
#include "io/dataset_import.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {
const std::string kFdgStudy = "02-04-2006-NA-PET-CT Ganzkoerper  primaer mit KM-43376";  // two spaces
const std::string kFdgCase = "fdg_2ce074c2ea_" + kFdgStudy;
const std::string kPsmaCase = "psma_0a1b2c3d4e5f6789_2019-08-21";

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  write_file_atomic(p, "x");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(AutopetLayout, StudyKeysOfBothLayouts) {
  EXPECT_EQ(io::autopet_study_key(kFdgCase), "fdg:2ce074c2ea/" + kFdgStudy);
  EXPECT_EQ(io::autopet_study_key(kPsmaCase), "psma:0a1b2c3d4e5f6789/2019-08-21");
  EXPECT_EQ(io::autopet_study_key("PETCT_2CE074C2EA/" + kFdgStudy), "fdg:2ce074c2ea/" + kFdgStudy);
  EXPECT_EQ(io::autopet_study_key("./FDG-PET-CT-Lesions/PETCT_2ce074c2ea/" + kFdgStudy + "/3.000000-CT-1"),
            "fdg:2ce074c2ea/" + kFdgStudy);
  EXPECT_EQ(io::autopet_study_key("psma_0a1b_notadate"), "");
  EXPECT_EQ(io::autopet_study_key("fdg_xyz_study"), "");  // not hex
  EXPECT_EQ(io::autopet_study_key("PHANTOM_0001"), "");
}

TEST(AutopetLayout, FdgTableOneStudyFromItsSeries) {
  const std::string loc = "./FDG-PET-CT-Lesions/PETCT_2ce074c2ea/" + kFdgStudy;
  const std::string csv =
      "Subject ID,Study UID,Study Date,Modality,File Location,diagnosis,age,sex\n"
      "PETCT_2ce074c2ea,1.2.3,2/4/2006,CT,\"" + loc + "/2.000000-CT-1\",MELANOMA,063Y,\n"
      "PETCT_2ce074c2ea,1.2.3,2/4/2006,PT,\"" + loc + "/3.000000-PET-2\",MELANOMA,063Y,\n"
      "PETCT_2ce074c2ea,1.2.3,2/4/2006,SEG,\"" + loc + "/4.000000-SEG-3\",MELANOMA,063Y,\n"
      "PETCT_0011f3deaf,1.2.4,3/23/2003,PT,./FDG-PET-CT-Lesions/PETCT_0011f3deaf/03-23-2003-NA-X-1/3-PET,LUNG_CANCER,071Y,M\n"
      "PETCT_0011f3deaf,1.2.5,5/2/2004,PT,./FDG-PET-CT-Lesions/PETCT_0011f3deaf/05-02-2004-NA-X-2/3-PET,NEGATIVE,072Y,M\n";
  const data::CsvTable t = data::parse_csv(csv, "fdg_metadata.csv");
  EXPECT_EQ(io::metadata_form(t), io::MetadataForm::kFdg);
  const auto m = io::read_autopet_metadata(t);
  ASSERT_EQ(m.size(), 3u);
  const data::CaseMeta& a = m.at("fdg:2ce074c2ea/" + kFdgStudy);
  EXPECT_EQ(a.tracer, "18F-FDG");
  EXPECT_EQ(a.diagnosis, "melanoma");
  EXPECT_EQ(a.age, 63);
  EXPECT_EQ(a.sex, "");
  EXPECT_EQ(data::make_prompt(a), "<tracer> 18F FDG <diagnosis> melanoma <age> 63 <sex> unknown");
  // The diagnosis is per study: the same patient has a positive and a negative study.
  EXPECT_EQ(m.at("fdg:0011f3deaf/03-23-2003-NA-X-1").diagnosis, "lung cancer");
  EXPECT_EQ(m.at("fdg:0011f3deaf/05-02-2004-NA-X-2").diagnosis, "negative control");

  const std::string bad = error_of([] {
    io::read_autopet_metadata(data::parse_csv(
        "Subject ID,File Location,age\nPETCT_00aa,./FDG-PET-CT-Lesions/PETCT_00bb/s/1,063Y\n", "f.csv"));
  });
  EXPECT_NE(bad.find("line 2"), std::string::npos) << bad;
  EXPECT_NE(bad.find("does not name a study folder of PETCT_00aa"), std::string::npos) << bad;
}

TEST(AutopetLayout, PsmaTable) {
  const data::CsvTable t = data::parse_csv(
      "Subject ID,Study Date,age,pet_radionuclide,pet_scanner\n"
      "PSMA_0a1b2c3d4e5f6789,2019-08-21,67,68Ga,X\n"
      "PSMA_0a1b2c3d4e5f6789,2020-01-05,68.0,18F,X\n",
      "psma_metadata.csv");
  EXPECT_EQ(io::metadata_form(t), io::MetadataForm::kPsma);
  const auto m = io::read_autopet_metadata(t);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(data::make_prompt(m.at("psma:0a1b2c3d4e5f6789/2019-08-21")),
            "<tracer> 68Ga PSMA <diagnosis> prostate cancer <age> 67 <sex> M");
  EXPECT_EQ(m.at("psma:0a1b2c3d4e5f6789/2020-01-05").tracer, "18F-PSMA");
  EXPECT_NE(error_of([] { io::metadata_form(data::parse_csv("a,b\n", "x.csv")); }).find("its columns are: a, b"),
            std::string::npos);
}

TEST(AutopetLayout, NnUnetFoldersAndTheirChannels) {
  test::TempDir tmp;
  const fs::path d = tmp / "Dataset221_AutoPETIII";
  for (const std::string& c : {kFdgCase, kPsmaCase}) {
    touch(d / "imagesTr" / (c + "_0000.nii.gz"));
    touch(d / "imagesTr" / (c + "_0001.nii.gz"));
  }
  touch(d / "labelsTr" / (kFdgCase + ".nii.gz"));
  EXPECT_TRUE(io::is_nnunet_dataset(d));
  EXPECT_FALSE(io::is_nnunet_dataset(tmp.path()));

  // No dataset.json: AutoPET III's order.
  auto cases = io::discover_nnunet(d);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].id, kFdgCase);
  EXPECT_EQ(cases[0].ct.filename(), kFdgCase + "_0000.nii.gz");
  EXPECT_EQ(cases[0].pet.filename(), kFdgCase + "_0001.nii.gz");
  EXPECT_EQ(cases[0].label.filename(), kFdgCase + ".nii.gz");
  EXPECT_TRUE(cases[1].label.empty());

  // The channel names decide.
  write_file_atomic(d / "dataset.json", R"({"channel_names": {"0": "PET", "1": "CT"}, "file_ending": ".nii.gz"})");
  cases = io::discover_nnunet(d);
  EXPECT_EQ(cases[0].pet.filename(), kFdgCase + "_0000.nii.gz");
  EXPECT_EQ(cases[0].ct.filename(), kFdgCase + "_0001.nii.gz");

  write_file_atomic(d / "dataset.json", R"({"channel_names": {"0": "CT", "1": "CT"}})");
  std::string e = error_of([&] { io::discover_nnunet(d); });
  EXPECT_NE(e.find("dataset.json"), std::string::npos) << e;
  EXPECT_NE(e.find("does not say which channel is CT and which PET"), std::string::npos) << e;

  write_file_atomic(d / "dataset.json", R"({"channel_names": {"0": "CT", "1": "PET"}})");
  touch(d / "labelsTr" / "psma_ffff_2020-01-01.nii.gz");
  e = error_of([&] { io::discover_nnunet(d); });
  EXPECT_NE(e.find("label without images"), std::string::npos) << e;
  fs::remove(d / "labelsTr" / "psma_ffff_2020-01-01.nii.gz");

  fs::remove(d / "imagesTr" / (kPsmaCase + "_0001.nii.gz"));
  e = error_of([&] { io::discover_nnunet(d); });
  EXPECT_NE(e.find("has no PET image"), std::string::npos) << e;
  EXPECT_NE(e.find(kPsmaCase + "_0001.nii.gz"), std::string::npos) << e;
}

TEST(AutopetLayout, DiscoveryJoinsBothTablesAndNamesTheUnmatched) {
  test::TempDir tmp;
  const fs::path d = tmp / "autopet";
  for (const std::string& c : {kFdgCase, kPsmaCase, std::string("psma_00000000000000aa_2021-02-03")}) {
    touch(d / "imagesTr" / (c + "_0000.nii.gz"));
    touch(d / "imagesTr" / (c + "_0001.nii.gz"));
    touch(d / "labelsTr" / (c + ".nii.gz"));
  }
  write_file_atomic(d / "dataset.json", R"({"channel_names": {"0": "CT", "1": "PET"}, "file_ending": ".nii.gz"})");
  write_file_atomic(d / "fdg_metadata.csv",
                    "Subject ID,Study Date,Modality,File Location,diagnosis,age,sex\r\n"
                    "PETCT_2ce074c2ea,2/4/2006,PT,\"./FDG-PET-CT-Lesions/PETCT_2ce074c2ea/" + kFdgStudy +
                        "/3.000000-PET-2\",LYMPHOMA,045Y,F\r\n");
  write_file_atomic(d / "psma_metadata.csv",
                    "Subject ID,Study Date,age,pet_radionuclide\nPSMA_0a1b2c3d4e5f6789,2019-08-21,67,18F\n");
  const auto cases = io::discover_dataset(d);
  ASSERT_EQ(cases.size(), 3u);
  EXPECT_EQ(cases[0].id, kFdgCase);
  EXPECT_EQ(data::make_prompt(cases[0].meta), "<tracer> 18F FDG <diagnosis> lymphoma <age> 45 <sex> F");
  EXPECT_EQ(cases[0].metadata_source, d / "fdg_metadata.csv");
  EXPECT_EQ(cases[0].suv.filename(), kFdgCase + "_0001.nii.gz");
  EXPECT_EQ(cases[2].id, kPsmaCase);
  EXPECT_EQ(cases[2].meta.tracer, "18F-PSMA");
  EXPECT_EQ(cases[2].meta.id, kPsmaCase);
  // No row: unknown, with a warning (not an error).
  EXPECT_EQ(cases[1].id, "psma_00000000000000aa_2021-02-03");
  EXPECT_EQ(data::make_prompt(cases[1].meta), "<tracer> unknown <diagnosis> unknown <age> unknown <sex> unknown");
}
