#include <gtest/gtest.h>

#include "core/error.h"
#include "io/dicom_time.h"

using namespace fratmae;

TEST(DicomTime, ParsesDate) {
  EXPECT_DOUBLE_EQ(dicom::parse_da("19700101", "t"), 0.0);
  EXPECT_DOUBLE_EQ(dicom::parse_da("19700102", "t"), 86400.0);
  // 2020-12-17 is day 18613 since the epoch.
  EXPECT_DOUBLE_EQ(dicom::parse_da("20201217 ", "t"), 18613.0 * 86400.0);
  EXPECT_DOUBLE_EQ(dicom::parse_da("20000301", "t") - dicom::parse_da("20000228", "t"), 2 * 86400.0);
}

TEST(DicomTime, ParsesTimeWithAndWithoutFraction) {
  EXPECT_DOUBLE_EQ(dicom::parse_tm("104830.351370", "t"), 10 * 3600 + 48 * 60 + 30.35137);
  EXPECT_DOUBLE_EQ(dicom::parse_tm("084500.00", "t"), 8 * 3600 + 45 * 60);
  EXPECT_DOUBLE_EQ(dicom::parse_tm("095621.05", "t"), 9 * 3600 + 56 * 60 + 21.05);
  EXPECT_DOUBLE_EQ(dicom::parse_tm("1430", "t"), 14 * 3600 + 30 * 60);
  EXPECT_DOUBLE_EQ(dicom::parse_tm("14", "t"), 14 * 3600);
  EXPECT_DOUBLE_EQ(dicom::parse_tm("14:30:05", "t"), 14 * 3600 + 30 * 60 + 5);
}

TEST(DicomTime, ParsesDateTime) {
  EXPECT_DOUBLE_EQ(dicom::parse_dt("20201217083045.000000 ", "t"),
                   dicom::parse_da("20201217", "t") + dicom::parse_tm("083045", "t"));
  // A time-zone offset is ignored (all times of a study come from one clock).
  EXPECT_DOUBLE_EQ(dicom::parse_dt("20201217083045+0100", "t"),
                   dicom::parse_dt("20201217083045", "t"));
  EXPECT_DOUBLE_EQ(dicom::parse_dt("20201217", "t"), dicom::parse_da("20201217", "t"));
}

TEST(DicomTime, RejectsMalformedValuesNamingTheTag) {
  try {
    dicom::parse_tm("25xx00", "SeriesTime (0008,0031)");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SeriesTime (0008,0031)"), std::string::npos);
  }
  EXPECT_THROW(dicom::parse_da("2020121", "t"), Error);
  EXPECT_THROW(dicom::parse_da("20201317", "t"), Error);
  EXPECT_THROW(dicom::parse_tm("256000", "t"), Error);
  EXPECT_THROW(dicom::parse_tm("", "t"), Error);
}
