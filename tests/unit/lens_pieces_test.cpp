// First pieces of Lens (issue 18): T5's relative position buckets and MSP span corruption.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "datasets/encoders/lens_vocabulary.h"
#include "models/lens/relative_position.h"
#include "models/lens/span_corruption.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;

TEST(RelativePosition, BidirectionalBucketsAsT5) {
  // 32 buckets, max distance 128: 16 per direction, 8 exact, then logarithmic.
  EXPECT_EQ(relative_position_bucket(0, true), 0);
  EXPECT_EQ(relative_position_bucket(-1, true), 1);
  EXPECT_EQ(relative_position_bucket(1, true), 17);  // keys after the query: upper half
  EXPECT_EQ(relative_position_bucket(-7, true), 7);
  EXPECT_EQ(relative_position_bucket(-8, true), 8);    // first logarithmic bucket
  EXPECT_EQ(relative_position_bucket(-20, true), 10);  // 8 + floor(log(2.5) / log(16) * 8)
  EXPECT_EQ(relative_position_bucket(-127, true), 15);
  EXPECT_EQ(relative_position_bucket(-5000, true), 15);  // beyond max distance: the last bucket
  EXPECT_EQ(relative_position_bucket(5000, true), 31);
}

TEST(RelativePosition, CausalBucketsOnlySeeThePast) {
  EXPECT_EQ(relative_position_bucket(0, false), 0);
  EXPECT_EQ(relative_position_bucket(5, false), 0);  // future keys (masked anyway) share bucket 0
  EXPECT_EQ(relative_position_bucket(-1, false), 1);
  EXPECT_EQ(relative_position_bucket(-15, false), 15);
  EXPECT_EQ(relative_position_bucket(-16, false), 16);
  EXPECT_EQ(relative_position_bucket(-40, false), 23);  // 16 + floor(log(2.5) / log(8) * 16)
  EXPECT_EQ(relative_position_bucket(-1000, false), 31);
}

TEST(RelativePosition, MatrixIsKeyMinusQueryAndMonotoneInDistance) {
  const auto b = relative_position_buckets(300, 300, true);
  EXPECT_EQ(b.sizes(), (torch::IntArrayRef{300, 300}));
  EXPECT_EQ(b[10][3].item<std::int64_t>(), relative_position_bucket(-7, true));
  EXPECT_EQ(b[3][10].item<std::int64_t>(), relative_position_bucket(7, true));
  EXPECT_GE(b.min().item<std::int64_t>(), 0);
  EXPECT_LT(b.max().item<std::int64_t>(), 32);
  for (std::int64_t d = 1; d < 299; ++d) {
    EXPECT_LE(relative_position_bucket(-d, true), relative_position_bucket(-d - 1, true)) << d;
    EXPECT_LE(relative_position_bucket(-d, false), relative_position_bucket(-d - 1, false)) << d;
  }
}

TEST(SpanCorruption, NoiseMaskHasT5sCountsAndRandomSegmentation) {
  const SpanCorruptionOptions options;  // 15%, mean span 3
  std::map<std::vector<bool>, int> seen;
  double span_tokens = 0, span_count = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const auto mask = random_spans_noise_mask(500, options, seed);
    ASSERT_EQ(mask.size(), 500u);
    EXPECT_FALSE(mask[0]);  // runs start with non-noise
    std::int64_t noise = 0, spans = 0;
    for (std::size_t i = 0; i < mask.size(); ++i) {
      noise += mask[i];
      spans += mask[i] && (i == 0 || !mask[i - 1]);
    }
    EXPECT_EQ(noise, 75);  // round(500 x 0.15)
    EXPECT_EQ(spans, 25);  // round(75 / 3)
    span_tokens += noise;
    span_count += spans;
    ++seen[mask];
  }
  EXPECT_EQ(seen.size(), 200u);  // the segmentation is random
  EXPECT_EQ(random_spans_noise_mask(500, options, 7),
            random_spans_noise_mask(500, options, 7));  // and seeded
  EXPECT_DOUBLE_EQ(span_tokens / span_count, 3.0);
  // Short inputs keep at least one token and hide at least one.
  const auto two = random_spans_noise_mask(2, options, 1);
  EXPECT_EQ(std::count(two.begin(), two.end(), true), 1);
}

// A lens sample: <pkt> <head> header bigrams ... per packet, </s>, padding.
std::vector<std::int32_t> sample(int packets, int per_packet, int padding) {
  std::vector<std::int32_t> t;
  for (int p = 0; p < packets; ++p) {
    t.push_back(vocab::kPacket);
    t.push_back(vocab::kHead);
    for (int i = 0; i < per_packet; ++i)
      t.push_back(vocab::bigram(static_cast<std::uint8_t>(p), static_cast<std::uint8_t>(i)));
  }
  t.push_back(vocab::kEos);
  t.insert(t.end(), padding, vocab::kPad);
  return t;
}

TEST(SpanCorruption, TargetsRestoreTheInputAndSpecialTokensStay) {
  const auto tokens = sample(5, 100, 11);
  const std::int64_t limit = max_span_target_length(static_cast<std::int64_t>(tokens.size()), 11, {});
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto c = corrupt_spans(tokens.data(), tokens.size(), {}, seed);
    ASSERT_FALSE(c.target.empty());
    EXPECT_EQ(c.target.back(), vocab::kEos);
    EXPECT_LE(static_cast<std::int64_t>(c.target.size()), limit);
    // Sentinels in order, in both; each special token of the source is still in the input.
    std::vector<std::int32_t> in_sentinels, target_sentinels;
    std::int64_t specials = 0;
    for (auto id : c.input) {
      if (id >= vocab::kFirstSentinel) in_sentinels.push_back(id);
      if (id == vocab::kPacket || id == vocab::kHead || id == vocab::kEos) ++specials;
    }
    for (auto id : c.target) {
      if (id >= vocab::kFirstSentinel) target_sentinels.push_back(id);
    }
    EXPECT_EQ(specials, 11);
    ASSERT_EQ(in_sentinels, target_sentinels);
    for (std::size_t k = 0; k < in_sentinels.size(); ++k)
      EXPECT_EQ(in_sentinels[k], vocab::sentinel(static_cast<int>(k)));
    EXPECT_EQ(c.spans, static_cast<std::int64_t>(in_sentinels.size()));
    EXPECT_GE(c.spans, 25);  // round(round(500 x 0.15) / 3), more where a special token splits one
    // Each sentinel of the input replaced by what follows it in the target: the source again.
    std::vector<std::int32_t> restored;
    std::size_t t = 0;
    for (auto id : c.input) {
      if (id < vocab::kFirstSentinel) {
        restored.push_back(id);
        continue;
      }
      ASSERT_EQ(c.target[t], id);
      for (++t; t < c.target.size() && c.target[t] < vocab::kFirstSentinel && t + 1 < c.target.size(); ++t) {
        restored.push_back(c.target[t]);
      }
    }
    EXPECT_EQ(restored, std::vector<std::int32_t>(tokens.begin(), tokens.end() - 11)) << "seed " << seed;
  }
}

}  // namespace
}  // namespace trafficfm::models
