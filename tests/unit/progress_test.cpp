#include "core/progress.h"

#include <gtest/gtest.h>

namespace trafficfm::core {
namespace {

TEST(Progress, HumanUnits) {
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1500), "1.5k");
  EXPECT_EQ(human_count(2.5e6), "2.5M");
  EXPECT_EQ(human_rate(0.25), "0.25");
  EXPECT_EQ(human_rate(3.41), "3.4");
  EXPECT_EQ(human_rate(0), "0");
  EXPECT_EQ(human_rate(1500), "1.5k");
  EXPECT_EQ(human_duration(42), "42s");
  EXPECT_EQ(human_duration(187), "3m07s");
  EXPECT_EQ(human_duration(7500), "2h05m");
}

TEST(Progress, LineShowsCountTotalRateAndEta) {
  Progress progress("prep", 1000, "flows", 1e9);
  progress.advance(250);
  const std::string line = progress.render();
  EXPECT_NE(line.find("prep: 250/1.0k flows (25.0%)"), std::string::npos) << line;
  EXPECT_NE(line.find("flows/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA"), std::string::npos) << line;
  progress.advance(750);
  EXPECT_EQ(progress.render().find("ETA"), std::string::npos);  // done: no ETA
}

}  // namespace
}  // namespace trafficfm::core
