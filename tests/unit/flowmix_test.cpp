// FlowMix pieces on their own: the greedy mutual-best pairing and the statistics encoder on the
// batch sizes an epoch really produces (its last batch can hold a single flow).
#include "models/mmae/flowmix.h"

#include <gtest/gtest.h>

#include <limits>

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

// The pairing as first written: the most similar unpaired two, round after round (O(n³)).
torch::Tensor repeated_best_pairs(const torch::Tensor& embedding) {
  const auto n = embedding.size(0);
  auto normalized = torch::nn::functional::normalize(embedding.to(torch::kFloat),
                                                     torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(normalized, normalized.t()).contiguous();
  sim.fill_diagonal_(-std::numeric_limits<float>::infinity());
  auto partner = torch::arange(n, torch::kLong);
  auto s = sim.accessor<float, 2>();
  std::vector<bool> paired(n, false);
  for (std::int64_t round = 0; round < n / 2; ++round) {
    float best = -std::numeric_limits<float>::infinity();
    std::int64_t bi = -1, bj = -1;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = i + 1; j < n; ++j)
        if (!paired[i] && !paired[j] && s[i][j] > best) best = s[i][j], bi = i, bj = j;
    if (bi < 0) break;
    partner[bi] = bj;
    partner[bj] = bi;
    paired[bi] = paired[bj] = true;
  }
  return partner;
}

TEST(FlowMix, SortedPairingEqualsTheRepeatedBestPairIncludingTies) {
  torch::manual_seed(3);
  for (std::int64_t n : {1, 2, 7, 64, 129}) {
    auto embedding = torch::randn({n, 6});
    if (n > 8) embedding.narrow(0, 0, 4).copy_(embedding.narrow(0, 4, 4));  // exact ties
    EXPECT_TRUE(mutual_best_pairs(embedding).equal(repeated_best_pairs(embedding))) << n;
    // Few distinct directions: many equal similarities.
    const auto coarse = torch::randint(0, 2, {n, 3}).to(torch::kFloat) + 0.5;
    EXPECT_TRUE(mutual_best_pairs(coarse).equal(repeated_best_pairs(coarse))) << n << " coarse";
  }
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
