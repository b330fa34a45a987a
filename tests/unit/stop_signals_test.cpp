#include "core/stop_signals.h"

#include <gtest/gtest.h>

#include <csignal>

namespace trafficfm::core {
namespace {

TEST(StopSignals, SignalsSetTheFlagAndMapToExitCodes) {
  install_stop_handlers();
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  std::raise(SIGUSR1);  // the process survives: the handler only records it
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGUSR1);
  std::raise(SIGTERM);  // the first signal wins
  EXPECT_EQ(stop_signal(), SIGUSR1);
  EXPECT_EQ(exit_code_for_signal(SIGUSR1), kExitRequeue);
  EXPECT_EQ(exit_code_for_signal(SIGTERM), kExitRequeue);
  EXPECT_EQ(exit_code_for_signal(SIGINT), 130);
  clear_stop_request();
  std::raise(SIGINT);
  EXPECT_EQ(stop_signal(), SIGINT);
  clear_stop_request();
}

}  // namespace
}  // namespace trafficfm::core
