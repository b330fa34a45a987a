// The generation task's data and report pieces: header fields decoded from bigram tokens
// (against a hand-built IPv4/TCP header), the two distances on known histograms, and the
// next-packet examples of a synthetic lens corpus (context = the first K - 1 packets, target =
// packet K's header tokens).
#include "models/lens/next_packet.h"

#include <gtest/gtest.h>

#include <cmath>

#include "datasets/encoders/lens_vocabulary.h"
#include "models/lens/header_fields.h"
#include "models/lens/lens_batch.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;

std::vector<std::int32_t> bigrams(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) out.push_back(vocab::bigram(bytes[i], bytes[i + 1]));
  return out;
}

TEST(HeaderFields, DecodesIpv4AndTcpFieldsFromBigramTokens) {
  std::vector<std::uint8_t> header(40, 0);
  header[0] = 0x45;                      // IPv4, 20-byte header
  header[2] = 0x05, header[3] = 0xdc;    // total length 1500
  header[8] = 64, header[9] = 6;         // TTL 64, TCP
  header[33] = 0x18;                     // PSH ACK
  header[34] = 0xfa, header[35] = 0xf0;  // window 64240
  auto tokens = bigrams(header);
  EXPECT_EQ(header_bytes(tokens), header);
  const auto f = header_fields(header);
  EXPECT_EQ(f.at("ip_total_length"), 1500);
  EXPECT_EQ(f.at("ttl"), 64);
  EXPECT_EQ(f.at("tcp_flags"), 0x18);
  EXPECT_EQ(f.at("tcp_window"), 64240);
  // Cut short (a packet's token budget): only the fields whose bytes are there.
  tokens.resize(24);
  tokens.push_back(vocab::kEos);
  const auto cut = header_fields(header_bytes(tokens));
  EXPECT_EQ(cut.count("ttl"), 1u);
  EXPECT_EQ(cut.count("tcp_flags"), 0u);
  EXPECT_TRUE(header_fields({}).empty());
}

TEST(HeaderFields, DistancesOfKnownHistograms) {
  const Histogram a{{1, 1.0}}, b{{2, 3.0}}, c{{1, 2.0}, {2, 2.0}};
  EXPECT_DOUBLE_EQ(jensen_shannon(a, a), 0.0);
  EXPECT_DOUBLE_EQ(jensen_shannon(a, b), 1.0);  // disjoint: 1 bit
  EXPECT_DOUBLE_EQ(total_variation(a, b), 1.0);
  EXPECT_DOUBLE_EQ(total_variation(a, c), 0.5);
  // JSD(a, c) with m = (3/4, 1/4): 0.5 * log2(1 / 0.75) + 0.5 * (0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25))
  const double expected =
      0.5 * std::log2(1 / 0.75) + 0.5 * (0.5 * std::log2(0.5 / 0.75) + 0.5 * std::log2(2.0));
  EXPECT_NEAR(jensen_shannon(a, c), expected, 1e-12);
  EXPECT_TRUE(std::isnan(jensen_shannon(a, {})));
}

TEST(NextPacket, ContextHoldsTheFirstPacketsAndTheTargetIsTheLastHeader) {
  testing::CorpusSpec spec;
  spec.flows = 60;
  spec.encoder = "lens";
  spec.max_tokens = 256;
  struct RemovedLast {  // declared before the loader, so it goes after it
    std::string dir = testing::make_temp_dir("next_packet");
    ~RemovedLast() { testing::remove_tree(dir); }
  } temp;
  const auto corpus = testing::make_synth_corpus(temp.dir, spec);
  datasets::LoaderOptions lo;
  lo.corpus = corpus;
  lo.batch_size = 16;
  lo.columns = lens_columns();
  datasets::Loader loader(lo);
  const auto batch = loader.next();
  const auto ex = next_packet_examples(batch, torch::kCPU);
  const auto* tokens = batch.column<std::int32_t>("tokens");
  const std::size_t width = batch.specs[0].values_per_sample();
  std::size_t usable = 0;
  for (std::size_t r = 0; r < batch.rows; ++r) {
    const auto& context = ex.context[r];
    ASSERT_EQ(context.back(), vocab::kEos);
    if (!ex.usable[r]) {
      EXPECT_EQ(ex.target_mask[static_cast<std::int64_t>(r)].sum().item<float>(), 0);
      continue;
    }
    ++usable;
    std::size_t packets = 0, stored = 0;
    for (const auto id : context) packets += id == vocab::kPacket;
    for (std::size_t i = 0; i < width; ++i) stored += tokens[r * width + i] == vocab::kPacket;
    EXPECT_EQ(packets + 1, stored) << "the context holds all packets but the last";
    // The context is the stored sample's prefix.
    for (std::size_t i = 0; i + 1 < context.size(); ++i) ASSERT_EQ(context[i], tokens[r * width + i]);
    ASSERT_FALSE(ex.real_header[r].empty());
    const auto fields = header_fields(header_bytes(ex.real_header[r]));
    EXPECT_TRUE(fields.count("ip_total_length")) << "the synthetic packets are IPv4 with a whole header";
    const auto target = ex.target[static_cast<std::int64_t>(r)];
    for (std::size_t i = 0; i < ex.real_header[r].size(); ++i)
      ASSERT_EQ(target[static_cast<std::int64_t>(i)].item<std::int64_t>(), ex.real_header[r][i]);
    EXPECT_EQ(target[static_cast<std::int64_t>(ex.real_header[r].size())].item<std::int64_t>(), vocab::kEos);
  }
  EXPECT_GT(usable, batch.rows / 2);
  EXPECT_DOUBLE_EQ(ex.target_tokens, ex.target_mask.sum().item<double>());
}

}  // namespace
}  // namespace trafficfm::models
