#include "core/rng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace trafficfm::core {
namespace {

TEST(Rng, SameSeedAndStreamGiveSameSequence) {
  Rng a(42, 7), b(42, 7), c(42, 8), d(43, 7);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
    EXPECT_NE(x, d.next());
  }
}

TEST(Rng, KnownFirstValueIsStableAcrossPlatforms) {
  // Pinned: changing the generator silently would change every synthetic corpus.
  Rng rng(1, 0);
  EXPECT_EQ(rng.next(), Rng(1, 0).next());
  std::uint64_t s = 0;
  EXPECT_EQ(splitmix64(s), 0xe220a8397b1dcdafULL);  // reference SplitMix64 output for seed 0
}

TEST(Rng, DistributionsHaveTheRightMoments) {
  Rng rng(3);
  const int n = 200000;
  double sum_u = 0, sum_n = 0, sum_n2 = 0, sum_e = 0;
  std::int64_t lo = 100, hi = -100;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum_u += u;
    const double z = rng.normal(1.0, 2.0);
    sum_n += z;
    sum_n2 += (z - 1.0) * (z - 1.0);
    sum_e += rng.exponential(0.5);
    const auto k = rng.integer(-3, 3);
    lo = std::min(lo, k);
    hi = std::max(hi, k);
  }
  EXPECT_NEAR(sum_u / n, 0.5, 0.005);
  EXPECT_NEAR(sum_n / n, 1.0, 0.02);
  EXPECT_NEAR(std::sqrt(sum_n2 / n), 2.0, 0.02);
  EXPECT_NEAR(sum_e / n, 0.5, 0.01);
  EXPECT_EQ(lo, -3);
  EXPECT_EQ(hi, 3);
}

}  // namespace
}  // namespace trafficfm::core
