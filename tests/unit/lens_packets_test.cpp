// Lens's packet-level objectives on one sample: POP reorders the first packets (never the
// identity) and labels which positions kept theirs; HTP splices one flow's first packets to
// another's later ones. Both keep every token and renumber packet_index by position.
#include <gtest/gtest.h>

#include <map>

#include "datasets/encoders/lens_vocabulary.h"
#include "models/lens/packet_rearrange.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;

// `lengths[p]` bigram tokens for packet p (marked with the packet and a flow id), then </s>, padding.
LensSequence flow(const std::vector<int>& lengths, std::uint8_t id, std::size_t max_tokens = 64) {
  LensSequence s{std::vector<std::int32_t>(max_tokens, vocab::kPad), std::vector<std::int8_t>(max_tokens, 0),
                 std::vector<std::int8_t>(max_tokens, 0)};
  std::size_t at = 0;
  for (std::size_t p = 0; p < lengths.size(); ++p) {
    auto push = [&](std::int32_t token, std::int8_t segment) {
      s.tokens[at] = token;
      s.segment[at] = segment;
      s.packet[at++] = static_cast<std::int8_t>(p);
    };
    push(vocab::kPacket, 0);
    push(vocab::kHead, 0);
    for (int i = 0; i < lengths[p]; ++i)
      push(vocab::bigram(static_cast<std::uint8_t>(16 * id + p), static_cast<std::uint8_t>(i)), 1);
  }
  s.tokens[at] = vocab::kEos;
  s.packet[at] = static_cast<std::int8_t>(lengths.size() - 1);
  return s;
}

// Which packet of which flow each block holds, read from the bigrams' first byte.
std::vector<int> origins(const LensSequence& s) {
  std::vector<int> out;
  for (const auto& [begin, end] : packet_blocks(s))
    out.push_back((s.tokens[begin + 2] - vocab::kFirstBigram) >> 8);
  return out;
}

void expect_packet_index_by_position(const LensSequence& s) {
  const auto blocks = packet_blocks(s);
  for (std::size_t p = 0; p < blocks.size(); ++p) {
    for (std::size_t i = blocks[p].first; i < blocks[p].second; ++i)
      ASSERT_EQ(s.packet[i], static_cast<std::int8_t>(p));
  }
  EXPECT_EQ(s.tokens[blocks.back().second], vocab::kEos);
}

TEST(PacketOrder, ShufflesTheFirstThreePacketsNeverLeavingThemInOrder) {
  const auto sample = flow({3, 5, 2, 4, 1}, 0);
  EXPECT_EQ(packet_blocks(sample).size(), 5u);
  std::map<std::vector<int>, int> seen;
  for (std::uint64_t seed = 0; seed < 600; ++seed) {
    const auto e = shuffle_first_packets(sample, seed);
    ASSERT_TRUE(e.shuffled);
    const auto order = origins(e.sample);
    ASSERT_EQ(order.size(), 5u);
    EXPECT_EQ(order[3], 3);  // packets after the third stay
    EXPECT_EQ(order[4], 4);
    EXPECT_NE(std::vector<int>(order.begin(), order.begin() + 3), (std::vector<int>{0, 1, 2}));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(e.in_place[i], order[i] == i ? 1.0f : 0.0f);
    expect_packet_index_by_position(e.sample);
    std::map<std::int32_t, int> before, after;  // the same tokens, moved
    for (auto t : sample.tokens) ++before[t];
    for (auto t : e.sample.tokens) ++after[t];
    EXPECT_EQ(before, after);
    ++seen[order];
  }
  EXPECT_EQ(seen.size(), 5u);  // every non-identity order, about equally often
  for (const auto& [order, count] : seen) EXPECT_GT(count, 80);
  EXPECT_EQ(shuffle_first_packets(sample, 9).sample.tokens, shuffle_first_packets(sample, 9).sample.tokens);
}

TEST(PacketOrder, TwoPacketsSwapAndOnePacketStays) {
  const auto two = shuffle_first_packets(flow({2, 3}, 0), 4);
  EXPECT_EQ(origins(two.sample), (std::vector<int>{1, 0}));
  EXPECT_EQ(two.in_place, (std::array<float, 3>{0.0f, 0.0f, 1.0f}));
  const auto one_flow = flow({4}, 0);
  const auto one = shuffle_first_packets(one_flow, 4);
  EXPECT_FALSE(one.shuffled);
  EXPECT_EQ(one.sample.tokens, one_flow.tokens);
}

TEST(HeaderTailPairing, SplicesTheHeadOfOneFlowToTheTailOfAnother) {
  const auto a = flow({3, 5, 2, 4, 1}, 0), b = flow({6, 1, 6, 6, 6}, 1);
  const auto pair = splice_subflows(a, b, 2);
  EXPECT_EQ(origins(pair), (std::vector<int>{0, 1, 16 + 2, 16 + 3, 16 + 4}));
  expect_packet_index_by_position(pair);
  EXPECT_EQ(pair.tokens.size(), a.tokens.size());
  for (std::size_t cut = 1; cut < 5; ++cut) {  // a positive pair is the flow itself
    const auto same = splice_subflows(a, a, cut);
    EXPECT_EQ(same.tokens, a.tokens);
    EXPECT_EQ(same.packet, a.packet);
    EXPECT_EQ(same.segment, a.segment);
  }
  EXPECT_THROW(splice_subflows(a, flow({2, 2}, 1), 2), std::invalid_argument);
  EXPECT_THROW(splice_subflows(a, b, 0), std::invalid_argument);
  // 22 + 42 tokens + </s> do not fit in 64 (only flows from other encoder settings can do that).
  EXPECT_THROW(splice_subflows(flow({20, 3}, 0), flow({3, 40}, 1), 1), std::invalid_argument);
}

}  // namespace
}  // namespace trafficfm::models
