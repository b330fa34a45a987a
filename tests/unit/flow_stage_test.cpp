// The flow stage runs its sink on every flow in the order they were pushed, on its own thread
// as inline, and an error of the sink reaches the caller.
#include "datasets/prep/flow_stage.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace trafficfm::datasets {
namespace {

Flow flow_number(int i) {
  Flow f;
  f.first_ns = i;
  f.packets.resize(static_cast<std::size_t>(i % 4));
  return f;
}

std::vector<std::int64_t> run(bool own_thread, int flows, std::size_t batch, std::thread::id* sink_thread) {
  std::vector<std::int64_t> seen;
  FlowStage stage(
      [&](Flow&& f) {
        seen.push_back(f.first_ns * 10 + static_cast<std::int64_t>(f.packets.size()));
        *sink_thread = std::this_thread::get_id();
      },
      own_thread, batch, 2);
  for (int i = 0; i < flows; ++i) stage.push(flow_number(i));
  stage.drain();
  return seen;
}

TEST(FlowStage, OwnThreadRunsTheSinkInPushOrderAsInlineDoes) {
  std::thread::id inline_thread, staged_thread;
  const auto expected = run(false, 1000, 7, &inline_thread);
  ASSERT_EQ(expected.size(), 1000u);
  EXPECT_EQ(inline_thread, std::this_thread::get_id());
  for (std::size_t batch : {1, 7, 256, 5000}) {
    EXPECT_EQ(run(true, 1000, batch, &staged_thread), expected) << "batch " << batch;
    EXPECT_NE(staged_thread, std::this_thread::get_id());
  }
}

TEST(FlowStage, ASinkErrorReachesDrainAndLaterFlowsAreNotRun) {
  for (bool own_thread : {false, true}) {
    int run_flows = 0;
    FlowStage stage(
        [&](Flow&& f) {
          if (f.first_ns == 300) throw std::runtime_error("encoder failed on flow 300");
          ++run_flows;
        },
        own_thread, 16, 2);
    bool caught = false;
    try {
      for (int i = 0; i < 1000; ++i) stage.push(flow_number(i));
      stage.drain();
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "encoder failed on flow 300";
    }
    EXPECT_TRUE(caught) << (own_thread ? "own thread" : "inline");
    EXPECT_EQ(run_flows, 300);
  }
}

}  // namespace
}  // namespace trafficfm::datasets
