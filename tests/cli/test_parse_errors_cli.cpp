// Command-line mistakes (src/cli/parse_errors, main): the same "fratmae: error:" prefix and exit
// status 2 for every usage error, a suggestion for a mistyped command, global options after the
// command, --config wherever it is given, and a config file with a command's keys at the top.
#include <gtest/gtest.h>

#include <fstream>

#include "cli/parse_errors.h"
#include "test_util.h"

using namespace fratmae;
using test::quote;
using test::run_fratmae;

TEST(ParseErrors, ClosestNameByEditDistanceOrPrefix) {
  const std::vector<std::string> names = {"convert", "info", "phantom", "pretrain", "predict", "preprocess"};
  EXPECT_EQ(cli::closest_name("conver", names), "convert");
  EXPECT_EQ(cli::closest_name("pretrian", names), "pretrain");
  EXPECT_EQ(cli::closest_name("phan", names), "phantom");
  EXPECT_EQ(cli::closest_name("segment", names), "");
}

TEST(ParseErrorsCli, AMistypedCommandGetsASuggestionAndTheList) {
  const auto r = run_fratmae("conver --pet x.nii.gz");
  EXPECT_EQ(r.exit_code, cli::kUsageError) << r.output;
  EXPECT_NE(r.output.find("fratmae: error: 'conver' is not a fratmae command; did you mean 'convert'?"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("commands: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("predict"), std::string::npos) << r.output;
  const auto none = run_fratmae("-v");
  EXPECT_EQ(none.exit_code, cli::kUsageError) << none.output;
  EXPECT_NE(none.output.find("fratmae: error: give a command"), std::string::npos) << none.output;
}

TEST(ParseErrorsCli, AnUnknownOptionIsAUsageErrorNamingTheCommand) {
  const auto r = run_fratmae("tokenize hello --bogus");
  EXPECT_EQ(r.exit_code, cli::kUsageError) << r.output;
  EXPECT_NE(r.output.find("fratmae: error: tokenize: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--bogus"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fratmae tokenize --help"), std::string::npos) << r.output;
  EXPECT_EQ(run_fratmae("--help").exit_code, 0);
  EXPECT_EQ(run_fratmae("tokenize --help").exit_code, 0);
}

TEST(ParseErrorsCli, GlobalOptionsAndConfigMayFollowTheCommand) {
  auto r = run_fratmae("tokenize hello -q --threads 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  test::TempDir tmp;
  std::ofstream(tmp / "pad.toml") << "[tokenize]\npad = true\n";
  r = run_fratmae("tokenize hello --config " + quote(tmp / "pad.toml"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), ','), 76) << r.output;  // 77 tokens: padded
  // A command's keys at the top of the file: an error that says where they go.
  std::ofstream(tmp / "top.toml") << "pad = true\n";
  r = run_fratmae("tokenize hello --config " + quote(tmp / "top.toml"));
  EXPECT_EQ(r.exit_code, cli::kUsageError) << r.output;
  EXPECT_NE(r.output.find("fratmae: error: tokenize: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[tokenize]"), std::string::npos) << r.output;
}
