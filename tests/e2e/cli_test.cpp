// The trafficfm binary as a user meets it: help, version, option errors and exit codes.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

std::string bin() { return trafficfm_binary(); }

TEST(Cli, MisspelledOptionExitsTwoAndNamesTheRightOne) {
  const auto r = run_command(bin() + " synth --flowz 10 --out /tmp/never-written");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--flowz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'--flows'"), std::string::npos) << r.output;
}

TEST(Cli, UnknownSubcommandExitsTwoWithSuggestion) {
  const auto r = run_command(bin() + " snyth");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'synth'"), std::string::npos) << r.output;
  EXPECT_EQ(run_command(bin()).exit_code, 2);
}

TEST(Cli, HelpListsSubcommandsAndEveryOptionWithDefault) {
  const auto top = run_command(bin() + " --help");
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.output.find("synth"), std::string::npos);
  const auto r = run_command(bin() + " synth --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"--out", "--flows arg (=1000)", "--hosts arg (=50)", "--seed arg (=1)",
                               "--log.level arg (=info)", "--config", "number of flows to generate"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  }
}

TEST(Cli, MissingRequiredOptionIsUsageError) {
  const auto r = run_command(bin() + " synth --flows 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--out"), std::string::npos) << r.output;
}

TEST(Cli, VersionReportsLibrariesAndOpenBlas) {
  const auto r = run_command(bin() + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"trafficfm 0.", "(git ", "LibTorch", "MPI", "NCCL", "BLAS"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  }
  // The setup installs OpenBLAS; running on the reference BLAS is the 8x slowdown we guard.
  EXPECT_NE(r.output.find("BLAS       OpenBLAS"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("WARNING"), std::string::npos) << r.output;
}

TEST(Cli, ConfigFileSetsOptionsAndCommandLineOverrides) {
  const std::string dir = make_temp_dir("cli-config");
  const std::string ini = dir + "/synth.ini";
  std::ofstream(ini) << "# demo corpus\nflows = 40\nhosts = 9\nseed = 5\n[log]\nlevel = warn\n";
  const auto r = run_command(bin() + " synth --config " + ini + " --flows 25 --out " + dir + "/out");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string labels = read_text_file(dir + "/out/labels.csv");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), '\n'), 26);  // header + 25 flows

  std::ofstream(ini) << "flows = 40\n[log]\nlevl = warn\n";
  const auto bad = run_command(bin() + " synth --config " + ini + " --out " + dir + "/out2");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("[log] levl"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("[log] level"), std::string::npos) << bad.output;
  remove_tree(dir);
}

TEST(Cli, SynthPrintsPerClassTable) {
  const std::string dir = make_temp_dir("cli-synth");
  const auto r = run_command(bin() + " synth --flows 60 --hosts 10 --out " + dir, /*merge_stderr=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"class", "flows", "packets", "http", "tls", "dns", "ssh", "quic", "scan"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  }
  remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::testing
