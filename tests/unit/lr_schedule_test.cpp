#include "core/lr_schedule.h"

#include <gtest/gtest.h>

namespace trafficfm::core {
namespace {

TEST(LrSchedule, WarmupThenCosineToTheFloor) {
  LrSchedule s{1.0, 10, 110, 0.1, "cosine"};
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // halfway: mean of peak and floor
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(500), 0.1, 1e-12);  // stays at the floor past the end
}

TEST(LrSchedule, LinearConstantAndUnknown) {
  LrSchedule linear{2.0, 0, 100, 0.0, "linear"};
  EXPECT_DOUBLE_EQ(linear.at(0), 2.0);
  EXPECT_DOUBLE_EQ(linear.at(50), 1.0);
  EXPECT_DOUBLE_EQ(linear.at(100), 0.0);
  LrSchedule constant{0.5, 5, 100, 0.1, "constant"};
  EXPECT_DOUBLE_EQ(constant.at(2), 0.3);
  EXPECT_DOUBLE_EQ(constant.at(99), 0.5);
  LrSchedule bad{1.0, 0, 10, 0.1, "step"};
  EXPECT_THROW(bad.at(3), std::invalid_argument);
}

TEST(LrSchedule, InSamplesTheRateFollowsThePositionNotTheBatch) {
  LrSchedule s{1.0, 100, 1000, 0.1, "cosine"};  // warmup and total in samples
  EXPECT_DOUBLE_EQ(s.over(0, 16), 0.16);        // a first step of 16 samples
  EXPECT_DOUBLE_EQ(s.over(96, 112), 1.0);       // warmup ends inside this step
  // A step of 32 samples and one of 8 from the same position get the same rate: a resume at
  // another dp continues the schedule the run started with.
  EXPECT_DOUBLE_EQ(s.over(480, 512), s.over(480, 488));
  EXPECT_NEAR(s.over(550, 566), 0.55, 1e-12);  // halfway through the decay
  EXPECT_NEAR(s.over(1000, 1016), 0.1, 1e-12);
}

}  // namespace
}  // namespace trafficfm::core
