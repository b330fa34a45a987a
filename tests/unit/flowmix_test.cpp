// FlowMix pieces on their own: the greedy mutual-best pairing and the statistics encoder on the
// batch sizes an epoch really produces (its last batch can hold a single flow).
#include "models/mmae/flowmix.h"

#include <gtest/gtest.h>

namespace trafficfm::models {
namespace {

TEST(FlowMix, PairsTheMostSimilarFlowsFirstAndLeavesAnOddOneAlone) {
  // Flows 0 and 2 point the same way, 1 and 3 nearly so; 4 is left over and keeps itself.
  const auto embedding =
      torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}, {1.0f, 0.01f}, {0.1f, 1.0f}, {-1.0f, -1.0f}});
  const auto partner = mutual_best_pairs(embedding);
  EXPECT_EQ(partner[0].item<std::int64_t>(), 2);
  EXPECT_EQ(partner[2].item<std::int64_t>(), 0);
  EXPECT_EQ(partner[1].item<std::int64_t>(), 3);
  EXPECT_EQ(partner[3].item<std::int64_t>(), 1);
  EXPECT_EQ(partner[4].item<std::int64_t>(), 4);
}

TEST(FlowMix, StatisticsEncoderTakesASingleFlowBatchWhileTraining) {
  torch::manual_seed(0);
  FlowStatsEncoder encoder(27, 64);
  encoder.train();
  // A full batch first, so the running statistics have seen data.
  encoder.forward(torch::randn({8, 27}));
  const auto one = encoder.forward(torch::randn({1, 27}));
  EXPECT_EQ(one.sizes(), (torch::IntArrayRef{1, 27 + 64}));
  EXPECT_TRUE(torch::isfinite(one).all().item<bool>());
  EXPECT_TRUE(encoder.is_training()) << "the encoder must be left in training mode";
}

}  // namespace
}  // namespace trafficfm::models
