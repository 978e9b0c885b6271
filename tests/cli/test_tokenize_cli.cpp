#include <gtest/gtest.h>

#include "test_util.h"

using fratmae::test::run_fratmae;

TEST(TokenizeCli, OneJsonArrayPerText) {
  const auto r = run_fratmae("tokenize 'hello world' 'a photo of a cat'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // CLIP's published ids for these two texts.
  EXPECT_EQ(r.output, "[49406,3306,1002,49407]\n[49406,320,1125,539,320,2368,49407]\n");
  const auto padded = run_fratmae("tokenize --pad 'hello world'");
  ASSERT_EQ(padded.exit_code, 0);
  EXPECT_EQ(std::count(padded.output.begin(), padded.output.end(), ','), 76);
  EXPECT_NE(run_fratmae("tokenize --vocab /no/such/vocab.txt.gz x").exit_code, 0);
}

TEST(ModelCli, PaperPresetParameterCounts) {
  const auto r = run_fratmae("model --preset paper --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"text_encoder\": 63428096"), std::string::npos) << r.output;
  EXPECT_NE(run_fratmae("model --preset huge").exit_code, 0);
}
