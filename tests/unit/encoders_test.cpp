// Hand-checked encodings: the mmae matrix equals YaTC's MFR layout byte for byte, lens tokens
// are ET-BERT byte bigrams with the right segments, anonymization zeroes exactly the
// identifying fields and makes TCP numbers and IP IDs relative.
#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include "datasets/capture/packet_view.h"
#include "datasets/encoders/encoder.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "datasets/flow/flow_table.h"
#include "datasets/net/packet_builder.h"

namespace trafficfm::datasets {
namespace {

// A TCP flow: SYN (no payload), SYN/ACK, then a 300-byte request: three packets.
struct TestFlow {
  std::vector<std::vector<std::uint8_t>> frames;
  Flow flow;
  TestFlow() {
    Host c, s;
    c.ipv4 = 0xc0a80101;  // 192.168.1.1
    s.ipv4 = 0x5db8d822;  // 93.184.216.34
    TcpSegment seg;
    seg.src_port = 50000;
    seg.dst_port = 80;
    seg.seq = 0x01020304;
    seg.flags = tcp_flag::kSyn;
    frames.push_back(build_tcp_frame(c, s, 7, seg, nullptr, 0));
    TcpSegment back;
    back.src_port = 80;
    back.dst_port = 50000;
    back.flags = tcp_flag::kSyn | tcp_flag::kAck;
    frames.push_back(build_tcp_frame(s, c, 9, back, nullptr, 0));
    std::vector<std::uint8_t> payload(300);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
    seg.flags = tcp_flag::kAck | tcp_flag::kPsh;
    frames.push_back(build_tcp_frame(c, s, 8, seg, payload.data(), payload.size()));
    FlowTable table({5, 5, 2, 5, 1600}, [&](Flow&& f) { flow = std::move(f); });
    double t = 0;
    for (const auto& f : frames) {
      PacketView v;
      EXPECT_EQ(decode_packet(DLT_EN10MB, f.data(), f.size(), f.size(), v), DecodeStatus::kOk);
      v.timestamp_ns = static_cast<std::int64_t>((t += 0.25) * 1e9);
      table.add(v, "x.pcap", DLT_EN10MB);
    }
    table.flush();
  }
};

std::vector<std::uint8_t> encode_mmae(const Flow& flow, bool anonymize, ColumnBuffer** keep = nullptr) {
  EncoderOptions options;
  options.anonymize = anonymize;
  auto encoder = make_encoder("mmae", options);
  static std::unique_ptr<ColumnBuffer> buffer;
  buffer = std::make_unique<ColumnBuffer>(encoder->schema());
  EXPECT_TRUE(encoder->encode(flow, *buffer));
  buffer->end_row();
  if (keep) *keep = buffer.get();
  return buffer->data(0);
}

TEST(MmaeEncoder, MatchesYatcLayoutByteForByte) {
  TestFlow t;
  ColumnBuffer* columns = nullptr;
  const auto matrix = encode_mmae(t.flow, /*anonymize=*/false, &columns);
  ASSERT_EQ(matrix.size(), 1600u);
  // Expected, built by hand: per packet 80 bytes of IP+TCP header (40 here, then zeros) and
  // 240 bytes of payload (zeros when none); packets 3 and 4 absent: all zeros.
  std::vector<std::uint8_t> expected(1600, 0);
  for (int p = 0; p < 3; ++p) {
    const auto& frame = t.frames[p];
    std::copy(frame.begin() + 14, frame.begin() + 54, expected.begin() + p * 320);  // 20 IP + 20 TCP
  }
  for (int i = 0; i < 240; ++i)
    expected[2 * 320 + 80 + i] = static_cast<std::uint8_t>(i);  // payload cut at 240
  EXPECT_EQ(matrix, expected);
  // Spot checks a reader can verify against the packet: version/IHL, protocol, addresses.
  EXPECT_EQ(matrix[0], 0x45);
  EXPECT_EQ(matrix[9], 6);
  EXPECT_EQ(matrix[12], 192);
  EXPECT_EQ(matrix[16], 93);
  EXPECT_EQ(matrix[20], 0xc3);  // source port 50000 = 0xc350
  EXPECT_EQ(matrix[21], 0x50);

  const auto* lengths = reinterpret_cast<const std::int32_t*>(columns->data(1).data());
  const auto* times = reinterpret_cast<const float*>(columns->data(2).data());
  const auto* dirs = reinterpret_cast<const std::int8_t*>(columns->data(3).data());
  EXPECT_EQ(lengths[0], 40);
  EXPECT_EQ(lengths[2], 340);
  EXPECT_EQ(lengths[3], 0);
  EXPECT_FLOAT_EQ(times[2], 0.5f);
  EXPECT_EQ(dirs[0], 1);
  EXPECT_EQ(dirs[1], -1);
  EXPECT_EQ(dirs[4], 0);
  const auto* stats = reinterpret_cast<const float*>(columns->data(4).data());
  EXPECT_FLOAT_EQ(stats[0], 0.5f);   // duration
  EXPECT_FLOAT_EQ(stats[1], 3.f);    // packets
  EXPECT_FLOAT_EQ(stats[2], 420.f);  // IP bytes
}

std::uint32_t be32(const std::uint8_t* at) {
  return (std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) | (std::uint32_t{at[2]} << 8) | at[3];
}

TEST(MmaeEncoder, AnonymizationChangesOnlyAddressesPortsChecksumsTcpNumbersAndIpIds) {
  TestFlow t;
  const auto plain = encode_mmae(t.flow, false);
  const auto anon = encode_mmae(t.flow, true);
  for (int p = 0; p < 3; ++p) {
    const std::size_t at = p * 320;
    for (std::size_t i = 0; i < 320; ++i) {
      const bool identifying = (i >= 10 && i < 20) || (i >= 20 && i < 24) || (i >= 36 && i < 38);
      const bool relative = (i >= 4 && i < 6) || (i >= 24 && i < 32);  // IP ID, TCP numbers: below
      if (relative) continue;
      if (identifying) {
        EXPECT_EQ(anon[at + i], 0) << "packet " << p << " byte " << i;
      } else {
        EXPECT_EQ(anon[at + i], plain[at + i]) << "packet " << p << " byte " << i;
      }
    }
  }
}

// A handshake and data in both directions, numbers near the 2^32 (and IP IDs near the 2^16)
// wrap: the anonymized bytes read as Wireshark's relative numbers, and a packet cut inside its
// TCP header is left alone.
TEST(FlowAnonymizer, TcpNumbersAreRelativeToEachDirectionsFirst) {
  const std::uint32_t client_isn = 0xfffffff0u, server_isn = 0x12345678u;
  struct Step {
    bool from_client;
    std::uint32_t seq, ack;
    std::uint8_t flags;
    std::uint32_t want_seq, want_ack;
  };
  const std::vector<Step> steps = {
      {true, client_isn, 0x0badf00d, tcp_flag::kSyn, 0, 0x0badf00d},  // no ACK: ack left as is
      {false, server_isn, client_isn + 1, tcp_flag::kSyn | tcp_flag::kAck, 0, 1},
      {true, client_isn + 1, server_isn + 1, tcp_flag::kAck, 1, 1},
      {true, client_isn + 1, server_isn + 1, tcp_flag::kAck | tcp_flag::kPsh, 1, 1},
      {false, server_isn + 1, client_isn + 101, tcp_flag::kAck, 1, 101},  // across the wrap
  };
  Host c, s;
  c.ipv4 = 0x0a000001;
  s.ipv4 = 0x0a000002;
  FlowAnonymizer anonymizer(6);
  for (const Step& step : steps) {
    TcpSegment seg;
    seg.src_port = step.from_client ? 40000 : 443;
    seg.dst_port = step.from_client ? 443 : 40000;
    seg.seq = step.seq;
    seg.ack = step.ack;
    seg.flags = step.flags;
    const std::uint16_t id = step.from_client ? static_cast<std::uint16_t>(0xffff + step.want_seq)
                                              : static_cast<std::uint16_t>(300 + step.want_seq);
    auto frame = build_tcp_frame(step.from_client ? c : s, step.from_client ? s : c, id, seg, nullptr, 0);
    FlowPacket packet;
    packet.from_client = step.from_client;
    packet.transport_offset = 20;
    std::vector<std::uint8_t> ip(frame.begin() + 14, frame.end());
    anonymizer.apply(ip.data(), ip.size(), packet);
    EXPECT_EQ(be32(ip.data() + 24), step.want_seq);
    EXPECT_EQ(be32(ip.data() + 28), step.want_ack);
    EXPECT_EQ(ip[33], step.flags);
    EXPECT_EQ(ip[4] * 256 + ip[5], static_cast<int>(step.want_seq));  // IDs step as the seqs here
    EXPECT_EQ(ip[12], 0);  // and the addresses are zeroed as before
  }
  // A capture that starts mid-connection: the server's numbers take the client's first
  // acknowledgement as their base, so its next segment reads 0.
  FlowAnonymizer mid(6);
  for (const bool from_client : {true, false}) {
    TcpSegment seg;
    seg.seq = from_client ? 5000 : 9000;
    seg.ack = from_client ? 9000 : 5000;
    seg.flags = tcp_flag::kAck;
    auto frame = build_tcp_frame(c, s, 1, seg, nullptr, 0);
    std::vector<std::uint8_t> ip(frame.begin() + 14, frame.end());
    FlowPacket packet;
    packet.from_client = from_client;
    packet.transport_offset = 20;
    mid.apply(ip.data(), ip.size(), packet);
    EXPECT_EQ(be32(ip.data() + 24), 0u);
    EXPECT_EQ(be32(ip.data() + 28), 0u);
  }
  // Cut after the sequence number: it is rebased, the rest is not read (ASan checks the bounds).
  FlowAnonymizer cut(6);
  TcpSegment seg;
  seg.seq = 77;
  seg.ack = 88;
  seg.flags = tcp_flag::kAck;
  auto frame = build_tcp_frame(c, s, 1, seg, nullptr, 0);
  std::vector<std::uint8_t> ip(frame.begin() + 14, frame.begin() + 14 + 28);
  FlowPacket packet;
  packet.transport_offset = 20;
  cut.apply(ip.data(), ip.size(), packet);
  EXPECT_EQ(be32(ip.data() + 24), 0u);
  for (std::size_t length : {0, 5, 21, 27}) cut.apply(ip.data(), length, packet);
}

TEST(MmaeEncoder, AnonymizedTcpNumbersAndIpIdsAreRelativeAndPlainOnesAreNot) {
  TestFlow t;  // SYN seq 0x01020304; SYN/ACK seq 0 ack 0; request seq 0x01020304 ack 0
  const auto plain = encode_mmae(t.flow, false);
  const auto anon = encode_mmae(t.flow, true);
  EXPECT_EQ(be32(plain.data() + 24), 0x01020304u);
  EXPECT_EQ(be32(plain.data() + 2 * 320 + 24), 0x01020304u);
  EXPECT_EQ(be32(anon.data() + 24), 0u);
  EXPECT_EQ(be32(anon.data() + 2 * 320 + 24), 0u);
  EXPECT_EQ(be32(anon.data() + 320 + 28), 0u - 0x01020304u);  // acks 0: before the client's base
  // IP IDs 7 (client), 9 (server), 8 (client): relative to each direction's first.
  EXPECT_EQ(plain[4] * 256 + plain[5], 7);
  EXPECT_EQ(anon[4] * 256 + anon[5], 0);
  EXPECT_EQ(anon[320 + 4] * 256 + anon[320 + 5], 0);
  EXPECT_EQ(anon[640 + 4] * 256 + anon[640 + 5], 1);
}

TEST(LensEncoder, BigramTokensSegmentsAndPadding) {
  TestFlow t;
  EncoderOptions options;
  options.anonymize = false;
  options.packets = 3;
  options.max_tokens = 65;
  auto encoder = make_encoder("lens", options);
  ColumnBuffer buffer(encoder->schema());
  ASSERT_TRUE(encoder->encode(t.flow, buffer));
  buffer.end_row();
  const auto* tokens = reinterpret_cast<const std::int32_t*>(buffer.data(0).data());
  const auto* segments = reinterpret_cast<const std::int8_t*>(buffer.data(1).data());
  const auto* packets = reinterpret_cast<const std::int8_t*>(buffer.data(2).data());
  const int length = *reinterpret_cast<const std::int32_t*>(buffer.data(3).data());
  const int budget = (65 - 1) / 3;  // 21 tokens per packet, one slot of padding left
  EXPECT_EQ(length, 3 * budget + 1);
  namespace v = lens_vocab;
  EXPECT_EQ(tokens[0], v::kPacket);
  EXPECT_EQ(tokens[1], v::kHead);
  EXPECT_EQ(tokens[2], v::bigram(0x45, 0x00));  // overlapping bigrams: b0b1, b1b2, ...
  EXPECT_EQ(tokens[3], v::bigram(0x00, 0x00));
  EXPECT_EQ(tokens[4], v::bigram(0x00, 40));  // total length 40 = 0x0028
  EXPECT_EQ(segments[2], 1);
  EXPECT_EQ(packets[budget], 1);
  EXPECT_EQ(tokens[length - 1], v::kEos);
  EXPECT_EQ(tokens[length], v::kPad);
  EXPECT_EQ(v::token_text(v::bigram(0xab, 0x01)), "ab01");
  EXPECT_EQ(v::token_text(v::sentinel(7)), "<extra_id_7>");
  EXPECT_EQ(v::kSize, 65642);
}

TEST(LensEncoder, PayloadTokensFollowTheHeader) {
  TestFlow t;
  EncoderOptions options;
  options.anonymize = false;
  options.packets = 1;
  options.max_tokens = 200;
  // Only the third packet carries payload: a flow of that packet alone.
  Flow one = t.flow;
  one.packets.erase(one.packets.begin(), one.packets.begin() + 2);
  auto encoder = make_encoder("lens", options);
  ColumnBuffer buffer(encoder->schema());
  ASSERT_TRUE(encoder->encode(one, buffer));
  buffer.end_row();
  const auto* tokens = reinterpret_cast<const std::int32_t*>(buffer.data(0).data());
  const auto* segments = reinterpret_cast<const std::int8_t*>(buffer.data(1).data());
  // <pkt> <head>, 39 header bigrams (40 bytes), then payload bigrams 00 01, 01 02, ...
  EXPECT_EQ(segments[2 + 38], 1);
  EXPECT_EQ(segments[2 + 39], 2);
  EXPECT_EQ(tokens[2 + 39], lens_vocab::bigram(0, 1));
  EXPECT_EQ(tokens[2 + 40], lens_vocab::bigram(1, 2));
}

}  // namespace
}  // namespace trafficfm::datasets
