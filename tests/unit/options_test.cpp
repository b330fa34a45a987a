#include "core/options.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/errors.h"

namespace trafficfm::core {
namespace {

po::options_description sample_options() {
  po::options_description options("test");
  add_common_options(options);
  options.add_options()("flows", po::value<int>()->default_value(10), "number of flows")(
      "train.lr", po::value<double>()->default_value(1e-3), "learning rate")(
      "train.steps", po::value<int>()->default_value(100), "steps")(
      "parallel.tp", po::value<int>()->default_value(1), "tensor-parallel size");
  return options;
}

std::string write_ini(const std::string& text) {
  // One file per test: ctest runs the tests of this binary in parallel processes.
  const std::string path = ::testing::TempDir() + "/options_test_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".ini";
  std::ofstream(path) << text;
  return path;
}

TEST(EditDistance, CountsEdits) {
  EXPECT_EQ(edit_distance("flowz", "flows"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Options, DefaultsApply) {
  const auto v = parse_options("t", sample_options(), {});
  EXPECT_EQ(v["flows"].as<int>(), 10);
  EXPECT_DOUBLE_EQ(v["train.lr"].as<double>(), 1e-3);
}

TEST(Options, IniSectionsMapToGroupsAndCommandLineWins) {
  const std::string ini = write_ini("flows = 7\n[train]\nlr = 3e-4\nsteps = 50\n[parallel]\ntp = 2\n");
  const auto v = parse_options("t", sample_options(), {"--config", ini, "--train.steps", "80"});
  EXPECT_EQ(v["flows"].as<int>(), 7);
  EXPECT_DOUBLE_EQ(v["train.lr"].as<double>(), 3e-4);
  EXPECT_EQ(v["train.steps"].as<int>(), 80);  // command line overrides the file
  EXPECT_EQ(v["parallel.tp"].as<int>(), 2);
}

TEST(Options, UnknownCommandLineOptionNamesClosest) {
  try {
    parse_options("trafficfm synth", sample_options(), {"--flowz", "10"});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'--flowz'"), std::string::npos) << message;
    EXPECT_NE(message.find("'--flows'"), std::string::npos) << message;
  }
}

TEST(Options, AbbreviationsAreRejected) {
  EXPECT_THROW(parse_options("t", sample_options(), {"--flow", "3"}), UsageError);
}

TEST(Options, UnknownIniKeyNamesKeyFileAndClosest) {
  const std::string ini = write_ini("[train]\nlrr = 3e-4\n");
  try {
    parse_options("t", sample_options(), {"--config", ini});
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("[train] lrr"), std::string::npos) << message;
    EXPECT_NE(message.find("[train] lr'"), std::string::npos) << message;
    EXPECT_NE(message.find(ini), std::string::npos) << message;
  }
}

TEST(Options, MissingConfigFileIsUsageError) {
  EXPECT_THROW(parse_options("t", sample_options(), {"--config", "/nonexistent/x.ini"}), UsageError);
}

TEST(Options, BadValueIsUsageError) {
  EXPECT_THROW(parse_options("t", sample_options(), {"--flows", "many"}), UsageError);
}

TEST(Options, ResolvedOptionsRoundTripThroughIni) {
  const auto options = sample_options();
  const auto v = parse_options("t", options, {"--train.lr", "0.25", "--parallel.tp", "4"});
  const std::string ini = options_to_ini(v, options);
  EXPECT_NE(ini.find("[train]\nlr = 0.25\n"), std::string::npos) << ini;
  const auto again = parse_options("t", options, {"--config", write_ini(ini)});
  EXPECT_DOUBLE_EQ(again["train.lr"].as<double>(), 0.25);
  EXPECT_EQ(again["parallel.tp"].as<int>(), 4);
  EXPECT_EQ(again["flows"].as<int>(), 10);
}

}  // namespace
}  // namespace trafficfm::core
