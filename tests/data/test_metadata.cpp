// Metadata, the paper's prompt, and the metadata CSV.
#include <gtest/gtest.h>

#include "core/atomic_output.h"
#include "core/error.h"
#include "data/metadata.h"
#include "test_util.h"

using namespace fratmae;

TEST(Metadata, PromptIsThePapersFormat) {
  data::CaseMeta m;
  m.tracer = "18F-FDG";
  m.diagnosis = "melanoma";
  m.age = 61;
  m.sex = "M";
  EXPECT_EQ(data::make_prompt(m), "<tracer> 18F FDG <diagnosis> melanoma <age> 61 <sex> M");
  m.tracer = "68Ga-PSMA";
  m.diagnosis = "prostate cancer";
  EXPECT_EQ(data::make_prompt(m), "<tracer> 68Ga PSMA <diagnosis> prostate cancer <age> 61 <sex> M");
  data::CaseMeta unknown;
  EXPECT_EQ(data::make_prompt(unknown), "<tracer> unknown <diagnosis> unknown <age> unknown <sex> unknown");
}

TEST(Metadata, StagesAndLabels) {
  EXPECT_EQ(data::parse_stage("I"), 1);
  EXPECT_EQ(data::parse_stage("ii"), 2);
  EXPECT_EQ(data::parse_stage("IIIB"), 3);
  EXPECT_EQ(data::parse_stage("IVA"), 4);
  EXPECT_EQ(data::parse_stage("4"), 4);
  EXPECT_EQ(data::parse_stage(""), 0);
  EXPECT_EQ(data::parse_stage("NA"), 0);
  EXPECT_THROW(data::parse_stage("V"), Error);
  EXPECT_THROW(data::parse_stage("5"), Error);
  EXPECT_EQ(data::stage_label(1), 0);
  EXPECT_EQ(data::stage_label(2), 0);
  EXPECT_EQ(data::stage_label(3), 1);
  EXPECT_EQ(data::stage_label(4), 1);
  EXPECT_EQ(data::stage_label(0), -1);
}

TEST(Metadata, TracerAndAgeFromDicomStrings) {
  EXPECT_EQ(data::tracer_from_radiopharmaceutical("Fluorodeoxyglucose"), "18F-FDG");
  EXPECT_EQ(data::tracer_from_radiopharmaceutical("FDG -- fluorodeoxyglucose"), "18F-FDG");
  EXPECT_EQ(data::tracer_from_radiopharmaceutical("Ga-68 PSMA-11"), "68Ga-PSMA");
  EXPECT_EQ(data::tracer_from_radiopharmaceutical("18F-DCFPyL"), "18F-PSMA");
  EXPECT_EQ(data::tracer_from_radiopharmaceutical(" Choline "), "Choline");
  EXPECT_EQ(data::parse_age("061Y"), 61);
  EXPECT_EQ(data::parse_age("61"), 61);
  EXPECT_EQ(data::parse_age("61.4"), 61);
  EXPECT_EQ(data::parse_age("003M"), 0);
  EXPECT_EQ(data::parse_age("old"), -1);
}

TEST(Metadata, ReadsTheCsvWithQuotesAndStages) {
  test::TempDir tmp;
  write_file_atomic(tmp / "m.csv",
                    "case,tracer,diagnosis,age,sex,stage,stage_group,weight_kg\n"
                    "A,18F-FDG,\"lung cancer\",70,m,,,80\n"
                    "B,18F-FDG,hodgkin lymphoma,30,F,IIIA,advanced,60\n"
                    "\n"
                    "C,68Ga-PSMA,\"prostate, cancer\",NA,M,2,early,90\n");
  const auto t = data::read_metadata_csv(tmp / "m.csv");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.at("A").diagnosis, "lung cancer");
  EXPECT_EQ(t.at("A").sex, "M");
  EXPECT_EQ(t.at("A").stage, 0);
  EXPECT_EQ(t.at("B").stage, 3);
  EXPECT_EQ(t.at("C").diagnosis, "prostate, cancer");
  EXPECT_EQ(t.at("C").age, -1);
  EXPECT_EQ(t.at("C").stage, 2);
}

TEST(Metadata, BadCsvNamesFileAndLine) {
  test::TempDir tmp;
  write_file_atomic(tmp / "nocol.csv", "case,tracer,age,sex\nA,18F-FDG,3,M\n");
  try {
    data::read_metadata_csv(tmp / "nocol.csv");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("diagnosis"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nocol.csv"), std::string::npos) << e.what();
  }
  write_file_atomic(tmp / "stage.csv", "case,tracer,diagnosis,age,sex,stage\nA,18F-FDG,x,3,M,VII\n");
  try {
    data::read_metadata_csv(tmp / "stage.csv");
    FAIL();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("VII"), std::string::npos) << e.what();
  }
  write_file_atomic(tmp / "dup.csv", "case,tracer,diagnosis,age,sex\nA,x,y,1,M\nA,x,y,1,M\n");
  EXPECT_THROW(data::read_metadata_csv(tmp / "dup.csv"), FileError);
  EXPECT_THROW(data::read_metadata_csv(tmp / "missing.csv"), FileError);
}
