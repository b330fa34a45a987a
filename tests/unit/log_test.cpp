#include "core/log.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace trafficfm::core {
namespace {

TEST(Log, LineHasTimestampRankAndLevel) {
  const std::string line = format_log_line(LogLevel::kWarn, 3, "disk almost full");
  // 2026-11-22T11:05:01.123Z [rank 3] WARN  disk almost full
  ASSERT_GE(line.size(), 24u);
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line[23], 'Z');
  EXPECT_NE(line.find("[rank 3] WARN  disk almost full"), std::string::npos) << line;
}

TEST(Log, ParsesLevels) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::kDebug);
  EXPECT_EQ(parse_log_level("error"), LogLevel::kError);
  EXPECT_THROW(parse_log_level("loud"), UsageError);
}

TEST(Log, FileReceivesLinesAboveLevelFromEveryRank) {
  const std::string path = ::testing::TempDir() + "/log_test.log";
  std::remove(path.c_str());
  LogSettings settings;
  settings.rank = 1;  // not rank 0: the terminal stays quiet for info, the file gets it
  settings.level = LogLevel::kInfo;
  configure_logging(settings);
  open_log_file(path);
  log_debug("hidden debug");
  log_info("visible info ", 42);
  log_warn("visible warning");
  close_log_file();
  configure_logging(LogSettings{});
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().find("hidden debug"), std::string::npos);
  EXPECT_NE(text.str().find("[rank 1] INFO  visible info 42"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("[rank 1] WARN  visible warning"), std::string::npos);
}

}  // namespace
}  // namespace trafficfm::core
