#include "distributed/node_shared_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace trafficfm::distributed {
namespace {

std::shared_ptr<NodeSharedMapping> private_mapping(std::size_t part_bytes, int parts) {
  const std::string name = "/trafficfm-test-" + std::to_string(getpid()) + "-" + std::to_string(parts);
  auto mapping = NodeSharedMapping::create(name, shared_part_bytes(part_bytes), parts);
  NodeSharedMapping::unlink(name);
  return mapping;
}

// Threads stand in for a node's ranks: the futex is not process-private, so it works the same.
TEST(NodeBarrier, NoRankLeavesABarrierBeforeEveryRankHasArrived) {
  constexpr int kRanks = 4, kRounds = 3000;
  NodeBarrier barrier(private_mapping(NodeBarrier::kBytes, 1), kRanks);
  std::atomic<int> arrivals{0};
  std::atomic<int> early_departures{0};
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.emplace_back([&, r] {
      for (int round = 0; round < kRounds; ++round) {
        if ((round + r) % 7 == 0) std::this_thread::yield();  // vary who arrives last
        arrivals.fetch_add(1);
        barrier.wait();
        if (arrivals.load() < (round + 1) * kRanks) early_departures.fetch_add(1);
      }
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(arrivals.load(), kRanks * kRounds);
  EXPECT_EQ(early_departures.load(), 0);
}

TEST(NodeBarrier, ASingleRankNeverWaits) {
  NodeBarrier barrier(private_mapping(NodeBarrier::kBytes, 1), 1);
  for (int round = 0; round < 1000; ++round) barrier.wait();  // would hang if it waited
  SUCCEED();
}

TEST(SumParts, SumsInRankOrderAndAverages) {
  std::vector<float> a = {1, 2, 3, 4}, b = {10, 20, 30, 40}, c = {100, 200, 300, 400};
  std::vector<const char*> parts = {reinterpret_cast<const char*>(a.data()),
                                    reinterpret_cast<const char*>(b.data()),
                                    reinterpret_cast<const char*>(c.data())};
  std::vector<float> out(2, -1);
  sum_parts(torch::kFloat, parts, 1, 3, /*average=*/false, reinterpret_cast<char*>(out.data()));
  EXPECT_EQ(out, (std::vector<float>{222, 333}));
  sum_parts(torch::kFloat, parts, 0, 2, /*average=*/true, reinterpret_cast<char*>(out.data()));
  EXPECT_EQ(out, (std::vector<float>{37, 74}));
  EXPECT_THROW(sum_parts(torch::kInt, parts, 0, 1, false, reinterpret_cast<char*>(out.data())),
               std::invalid_argument);
}

}  // namespace
}  // namespace trafficfm::distributed
