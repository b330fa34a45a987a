// Constrained header generation (models/lens/header_grammar.h): the length a header's own
// fields give it is the one prep's decoder gives it, the grammar lets a real header's tokens
// through and nothing that breaks it, and a constrained decoder writes well-formed headers.
#include "models/lens/header_grammar.h"

#include <gtest/gtest.h>

#include "datasets/capture/capture_reader.h"
#include "datasets/capture/packet_view.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/communicator.h"
#include "models/lens/header_fields.h"
#include "models/lens/lens_generate.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;
using Bytes = std::vector<std::uint8_t>;

// An IPv4 packet: IHL words, protocol, a transport header of `transport` bytes whose byte 12
// is `tcp_offset_byte` (TCP), then 10 payload bytes.
Bytes ipv4(int ihl, int protocol, std::size_t transport, std::uint8_t tcp_offset_byte = 0x50) {
  Bytes b(static_cast<std::size_t>(ihl) * 4 + transport + 10, 0);
  b[0] = static_cast<std::uint8_t>(0x40 | ihl);
  b[2] = static_cast<std::uint8_t>(b.size() >> 8), b[3] = static_cast<std::uint8_t>(b.size() & 0xff);
  b[8] = 64, b[9] = static_cast<std::uint8_t>(protocol);
  if (protocol == 6) b[static_cast<std::size_t>(ihl) * 4 + 12] = tcp_offset_byte;
  return b;
}

// An IPv6 packet with one hop-by-hop extension header of 16 bytes, then `protocol`.
Bytes ipv6_hop_by_hop(int protocol, std::size_t transport) {
  Bytes b(40 + 16 + transport + 10, 0);
  b[0] = 0x60;
  const std::size_t payload = b.size() - 40;
  b[4] = static_cast<std::uint8_t>(payload >> 8), b[5] = static_cast<std::uint8_t>(payload & 0xff);
  b[6] = 0, b[7] = 64;
  b[40] = static_cast<std::uint8_t>(protocol), b[41] = 1;  // (1 + 1) * 8 bytes
  if (protocol == 6) b[56 + 12] = 0x60;
  return b;
}

std::size_t decoded_header_length(const Bytes& packet) {
  datasets::PacketView view;
  const int link = (packet[0] >> 4) == 4 ? 228 : 229;
  EXPECT_EQ(datasets::decode_packet(link, packet.data(), packet.size(),
                                    static_cast<std::uint32_t>(packet.size()), view),
            datasets::DecodeStatus::kOk);
  return view.payload_offset;
}

TEST(HeaderGrammar, TheLengthAHeaderStatesIsTheOnePrepDecodes) {
  const std::vector<Bytes> packets = {ipv4(5, 6, 32, 0x80),  ipv4(5, 6, 20), ipv4(6, 17, 8),
                                      ipv4(5, 1, 8),         ipv4(5, 47, 0), ipv6_hop_by_hop(17, 8),
                                      ipv6_hop_by_hop(6, 24)};
  for (const auto& packet : packets) {
    const std::size_t expected = decoded_header_length(packet);
    // Known from the bytes that state it on, and not before: never a wrong length.
    for (std::size_t n = 1; n <= expected; ++n) {
      const HeaderShape shape = header_shape(Bytes(packet.begin(), packet.begin() + static_cast<long>(n)));
      EXPECT_FALSE(shape.invalid) << n;
      if (shape.length) EXPECT_EQ(*shape.length, expected) << "after " << n << " bytes";
    }
    const auto whole = header_shape(Bytes(packet.begin(), packet.begin() + static_cast<long>(expected)));
    ASSERT_TRUE(whole.length.has_value());
    EXPECT_EQ(*whole.length, expected);
  }
  EXPECT_EQ(decoded_header_length(ipv4(5, 6, 32, 0x80)), 52u);
  EXPECT_EQ(decoded_header_length(ipv6_hop_by_hop(17, 8)), 64u);
  EXPECT_TRUE(header_shape({0x55}).invalid);                    // version 5
  EXPECT_TRUE(header_shape({0x44}).invalid);                    // IHL 4
  EXPECT_TRUE(header_shape(ipv4(5, 6, 20, 0x40)).invalid);      // TCP offset 4
  EXPECT_FALSE(header_shape({0x45, 0, 0}).length.has_value());  // protocol not yet known
}

// On real captures (../shared/data), every header prep decodes is one the grammar ends where
// prep does: the IPv4 options, TCP options, IPv6 extension headers and protocols there are.
TEST(HeaderGrammar, RealCaptureHeadersEndWhereTheirLengthFieldsSay) {
  const std::string data = testing::shared_data_dir();
  if (data.empty()) GTEST_SKIP() << "../shared/data not present";
  std::size_t headers = 0, ipv6 = 0, options = 0;
  for (const auto& file : datasets::list_capture_files({data + "/ndpi/pcap", data + "/pretrain"})) {
    std::unique_ptr<datasets::CaptureReader> reader;
    try {
      reader = std::make_unique<datasets::CaptureReader>(file);
    } catch (const datasets::CaptureError&) {
      continue;  // a capture prep refuses is not a header it decodes
    }
    if (!datasets::link_type_supported(reader->link_type())) continue;
    datasets::RawPacket raw;
    while (reader->next(raw)) {
      datasets::PacketView view;
      if (datasets::decode_packet(reader->link_type(), raw.data, raw.caplen, raw.wire_length, view) !=
          datasets::DecodeStatus::kOk)
        continue;
      // ICMP with fewer than 8 bytes after the IP header: prep keeps what there is.
      if ((view.protocol == 1 || view.protocol == 58) && view.payload_offset < view.transport_offset + 8)
        continue;
      const Bytes header(view.ip, view.ip + view.payload_offset);
      const HeaderShape shape = header_shape(header);
      ASSERT_FALSE(shape.invalid) << file;
      ASSERT_TRUE(shape.length.has_value()) << file;
      ASSERT_EQ(*shape.length, view.payload_offset) << file << ": protocol " << int(view.protocol);
      ++headers;
      ipv6 += (header[0] >> 4) == 6;
      options +=
          (header[0] & 15) > 5 || (view.protocol == 6 && view.payload_offset > view.transport_offset + 20);
    }
  }
  std::printf("[ headers ] %zu headers (%zu IPv6, %zu with IP or TCP options)\n", headers, ipv6, options);
  EXPECT_GT(headers, 100000u);
}

// The grammar's mask at each step of a real header's tokens.
TEST(HeaderGrammar, LetsARealHeaderThroughAndNothingThatBreaksIt) {
  const Bytes packet = ipv4(5, 6, 32, 0x80);
  const std::size_t header = 52;
  HeaderGrammar grammar(2, vocab::kFirstSentinel);
  for (std::size_t i = 0; i + 1 < header; ++i) {
    const auto allowed = grammar.allowed();
    const std::int64_t real = vocab::bigram(packet[i], packet[i + 1]);
    EXPECT_TRUE(allowed[0][real].item<bool>()) << "token " << i;
    EXPECT_FALSE(allowed[0][vocab::kEos].item<bool>()) << "</s> inside the header, token " << i;
    if (i > 0) {
      const std::int64_t broken = vocab::bigram(static_cast<std::uint8_t>(packet[i] ^ 1), packet[i + 1]);
      EXPECT_FALSE(allowed[0][broken].item<bool>()) << "a bigram that does not overlap, token " << i;
      EXPECT_EQ(allowed[0].sum().item<std::int64_t>(), i + 1 == 32 ? 256 - 0x50 : 256) << "token " << i;
    }
    grammar.advance(torch::tensor({real, static_cast<std::int64_t>(vocab::kEos)}));
    EXPECT_TRUE(grammar.allowed()[1][vocab::kPad].item<bool>()) << "a finished row takes padding";
  }
  const auto last = grammar.allowed()[0];
  EXPECT_TRUE(last[vocab::kEos].item<bool>());
  EXPECT_EQ(last.sum().item<std::int64_t>(), 1) << "the header is complete: </s> alone";
  // The first token: an IPv4 (IHL >= 5) or IPv6 first byte only.
  HeaderGrammar fresh(1, vocab::kFirstSentinel);
  const auto first = fresh.allowed()[0];
  EXPECT_TRUE(first[vocab::bigram(0x45, 0x00)].item<bool>());
  EXPECT_TRUE(first[vocab::bigram(0x6f, 0xff)].item<bool>());
  EXPECT_FALSE(first[vocab::bigram(0x44, 0x00)].item<bool>());
  EXPECT_FALSE(first[vocab::kEos].item<bool>());
  EXPECT_EQ(first.sum().item<std::int64_t>(), 27 * 256);
}

TEST(HeaderGrammar, AConstrainedDecoderWritesWellFormedHeaders) {
  auto tp = distributed::make_local_communicator();
  LensConfig config;
  config.d_model = 32, config.d_kv = 8, config.d_ff = 48, config.heads = 4;
  config.encoder_layers = 1, config.decoder_layers = 1;
  torch::manual_seed(3);
  LensModel model(config, *tp);
  model.eval();
  LensInputs in;
  in.tokens = torch::randint(vocab::kFirstBigram, vocab::kFirstSentinel, {4, 12}, torch::kLong);
  in.segment = torch::ones({4, 12}, torch::kLong);
  in.packet = torch::zeros({4, 12}, torch::kLong);
  in.padding = torch::zeros({4, 12}, torch::kBool);
  GenerateOptions options;
  options.max_tokens = 160;
  options.constrain_header = true;
  for (const std::int64_t top_k : {0, 40}) {
    options.top_k = top_k;
    const auto ids = generate(model, in, options);
    std::size_t ended = 0;
    for (std::int64_t r = 0; r < ids.size(0); ++r) {
      std::vector<std::int32_t> tokens;
      bool eos = false;
      for (std::int64_t i = 0; i < ids.size(1) && !eos; ++i) {
        const auto id = static_cast<std::int32_t>(ids[r][i].item<std::int64_t>());
        eos = id == vocab::kEos;
        if (!eos) tokens.push_back(id);
      }
      const Bytes bytes = header_bytes(tokens);
      ASSERT_EQ(bytes.size(), tokens.size() + 1) << "every token is a bigram";
      for (std::size_t i = 1; i < tokens.size(); ++i)
        ASSERT_EQ((tokens[i - 1] - vocab::kFirstBigram) & 0xff, (tokens[i] - vocab::kFirstBigram) >> 8)
            << "bigrams overlap, row " << r;
      const auto shape = header_shape(bytes);
      EXPECT_FALSE(shape.invalid) << "row " << r;
      if (!eos) continue;
      ++ended;
      ASSERT_TRUE(shape.length.has_value()) << "row " << r;
      EXPECT_EQ(bytes.size(), *shape.length) << "</s> where the header ends, row " << r;
      EXPECT_EQ(header_fields(bytes).count("ip_total_length"), 1u) << "row " << r;
    }
    EXPECT_GE(ended, 3u) << "top-k " << top_k;
  }
  // Unconstrained, the same model spells no header (the test above could fail).
  options.constrain_header = false;
  options.top_k = 0;
  const auto free = generate(model, in, options);
  bool broken = false;
  for (std::int64_t r = 0; r < free.size(0); ++r) {
    const auto first = free[r][0].item<std::int64_t>();
    const auto second = free.size(1) > 1 ? free[r][1].item<std::int64_t>() : vocab::kEos;
    broken = broken || first < vocab::kFirstBigram || first >= vocab::kFirstSentinel ||
             (second >= vocab::kFirstBigram && second < vocab::kFirstSentinel &&
              ((first - vocab::kFirstBigram) & 0xff) != ((second - vocab::kFirstBigram) >> 8));
  }
  EXPECT_TRUE(broken);
}

}  // namespace
}  // namespace trafficfm::models
