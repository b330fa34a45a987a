// Stochastic depth as timm and MMAE's code draw it: per sample and per residual branch, so a
// block can drop its attention and keep its MLP (one shared draw would drop both or neither).
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "models/common/sample_random.h"
#include "models/common/vit_block.h"

namespace trafficfm::models {
namespace {

std::vector<std::uint64_t> keys(std::size_t n) {
  std::vector<std::uint64_t> index(n);
  for (std::size_t i = 0; i < n; ++i) index[i] = i;
  return sample_keys(7, 0, index);
}

TEST(SampleRandom, CounterBasedDrawsEqualTheHostReferenceBitForBit) {
  const auto keys = sample_keys(7, 2, {0, 1, 2, 1000003});
  const auto u = per_sample_uniform(keys, 500, 11);
  ASSERT_EQ(u.sizes(), (std::vector<std::int64_t>{4, 500}));
  ASSERT_EQ(u.scalar_type(), torch::kFloat);
  for (std::int64_t i = 0; i < 4; ++i) {
    for (std::int64_t j = 0; j < 500; ++j)
      ASSERT_EQ(u[i][j].item<float>(), sample_uniform_at(keys[i], 11, j)) << i << ", " << j;
  }
  // A different stream, or the same sample in another batch, draws its own / the same numbers.
  EXPECT_FALSE(u.equal(per_sample_uniform(keys, 500, 12)));
  EXPECT_TRUE(u[3].equal(per_sample_uniform({keys[3]}, 500, 11)[0]));
  // Uniform on [0, 1): mean 1/2, variance 1/12, nothing outside, 24 bits.
  const auto many = per_sample_uniform(sample_keys(1, 0, std::vector<std::uint64_t>(64, 5)), 4096, 3);
  EXPECT_GE(many.min().item<float>(), 0.0f);
  EXPECT_LT(many.max().item<float>(), 1.0f);
  EXPECT_NEAR(many.mean().item<double>(), 0.5, 0.005);
  EXPECT_NEAR(many.var().item<double>(), 1.0 / 12, 0.002);
  EXPECT_TRUE((many * 16777216.0f).frac().eq(0).all().item<bool>());
}

TEST(DropPath, EachBranchIsDrawnOnItsOwn) {
  const auto k = keys(256);
  const auto scales = block_drop_path_scales(k, 3, 0.5, 100, torch::kCPU);
  ASSERT_EQ(scales.size(), 3u);
  EXPECT_FALSE(scales[0].defined());  // rate 0 at the first block
  for (std::size_t b = 1; b < 3; ++b) {
    ASSERT_EQ(scales[b].sizes(), (torch::IntArrayRef{256, 2}));
    const auto attention = scales[b].select(1, 0), mlp = scales[b].select(1, 1);
    // Independent draws disagree on about half the samples at p 0.5 (a shared draw: never).
    const double disagree = (attention != mlp).to(torch::kDouble).mean().item<double>();
    EXPECT_GT(disagree, 0.05) << "block " << b;
  }
  // Rate 0.5 at the last block: each branch is kept about half the time, scaled by 1/(1-p).
  const auto kept = (scales[2] > 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.5, 0.1);
  EXPECT_FLOAT_EQ(scales[2].max().item<float>(), 2.0f);
  // Deterministic in the keys: the same sample gets the same draws again.
  EXPECT_TRUE(torch::equal(scales[2], block_drop_path_scales(k, 3, 0.5, 100, torch::kCPU)[2]));
  EXPECT_TRUE(block_drop_path_scales(k, 3, 0.0, 100, torch::kCPU).empty());
}

TEST(DropPath, VitBlockScalesTheAttentionAndTheMlpBranchSeparately) {
  torch::manual_seed(3);
  auto tp = distributed::make_local_communicator();
  VitBlock block(16, 2, 32, *tp);
  block.eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 5, 16});
  // Sample 0: attention dropped, MLP kept; sample 1: both dropped (the block is the identity).
  const auto keep = torch::tensor({{0.0f, 1.0f}, {0.0f, 0.0f}});
  const auto y = block.forward(x, keep);
  const auto x0 = x.narrow(0, 0, 1);
  const auto only_mlp = x0 + block.fc2->forward(torch::gelu(block.fc1->forward(block.ln2->forward(x0))));
  EXPECT_TRUE(torch::allclose(y.narrow(0, 0, 1), only_mlp, 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(y.narrow(0, 1, 1), x.narrow(0, 1, 1)));
}

}  // namespace
}  // namespace trafficfm::models
