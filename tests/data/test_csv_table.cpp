// CSV as spreadsheet programs and TCIA write it: BOM, CRLF, quoted commas and newlines.
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/csv_table.h"

using namespace fratmae;

TEST(CsvTable, SpreadsheetQuirksParse) {
  const std::string text =
      "\xEF\xBB\xBF" "Subject ID,File Location,age\r\n"
      "PETCT_0a,\"./FDG/PETCT_0a/01-01-2000-NA-PET-CT Ganzkoerper  primaer mit KM-1/2.000000-CT, low dose\",063Y\r\n"
      "\r\n"
      "PETCT_0b,\"say \"\"hi\"\"\nsecond line\",\r\n"
      "PETCT_0c,short\n";
  const data::CsvTable t = data::parse_csv(text, "meta.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"Subject ID", "File Location", "age"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0][1], "./FDG/PETCT_0a/01-01-2000-NA-PET-CT Ganzkoerper  primaer mit KM-1/2.000000-CT, low dose");
  EXPECT_EQ(t.rows[0][2], "063Y");
  EXPECT_EQ(t.rows[1][1], "say \"hi\"\nsecond line");  // a quoted newline stays in its field
  EXPECT_EQ(t.rows[1][2], "");
  EXPECT_EQ(t.rows[2], (std::vector<std::string>{"PETCT_0c", "short", ""}));  // padded
  EXPECT_EQ(t.lines, (std::vector<int>{2, 4, 6}));
  EXPECT_EQ(t.column("subject id"), 0);
  EXPECT_EQ(t.column("diagnosis"), -1);
}

TEST(CsvTable, BadFilesAreNamed) {
  auto message = [](const std::string& text) {
    try {
      data::parse_csv(text, "bad.csv");
    } catch (const FileError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("").find("bad.csv"), std::string::npos);
  EXPECT_NE(message("\n\n").find("empty"), std::string::npos);
  EXPECT_NE(message("a,b\n1,\"open\n").find("not closed"), std::string::npos);
  const std::string extra = message("a,b\n1,2\n1,2,3\n");
  EXPECT_NE(extra.find("line 3 has 3 fields"), std::string::npos) << extra;
  const data::CsvTable t = data::parse_csv("a,b\n", "t.csv");
  try {
    t.require("case", "the case id");
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("its columns are: a, b"), std::string::npos) << e.what();
  }
}
