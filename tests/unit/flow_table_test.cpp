#include "datasets/flow/flow_table.h"

#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include "datasets/capture/packet_view.h"
#include "datasets/net/packet_builder.h"

namespace trafficfm::datasets {
namespace {

struct Packets {
  Host client, server;
  std::vector<std::vector<std::uint8_t>> frames;
  Packets() {
    client.ipv4 = 0x0a000001;
    server.ipv4 = 0x0a000002;
  }
  const std::vector<std::uint8_t>& tcp(bool from_client, std::uint8_t flags, std::size_t payload = 0,
                                       std::uint16_t client_port = 40000) {
    TcpSegment s;
    s.src_port = from_client ? client_port : 443;
    s.dst_port = from_client ? 443 : client_port;
    s.flags = flags;
    std::vector<std::uint8_t> data(payload, 0xab);
    frames.push_back(build_tcp_frame(from_client ? client : server, from_client ? server : client, 0, s,
                                     data.data(), data.size()));
    return frames.back();
  }
};

void feed(FlowTable& table, const std::vector<std::uint8_t>& frame, double t) {
  PacketView v;
  ASSERT_EQ(decode_packet(DLT_EN10MB, frame.data(), frame.size(), frame.size(), v), DecodeStatus::kOk);
  v.timestamp_ns = static_cast<std::int64_t>(t * 1e9);
  table.add(v, "test.pcap", DLT_EN10MB);
}

TEST(FlowTable, BidirectionalWithClientFromFirstPacketAndStats) {
  std::vector<Flow> out;
  FlowTable table({}, [&](Flow&& f) { out.push_back(std::move(f)); });
  Packets p;
  feed(table, p.tcp(true, tcp_flag::kSyn), 0.0);
  feed(table, p.tcp(false, tcp_flag::kSyn | tcp_flag::kAck), 0.010);
  feed(table, p.tcp(true, tcp_flag::kAck, 100), 0.020);
  feed(table, p.tcp(false, tcp_flag::kAck, 1000), 0.050);
  table.flush();
  ASSERT_EQ(out.size(), 1u);
  const Flow& f = out[0];
  EXPECT_EQ(f.client.text(), "10.0.0.1");
  EXPECT_EQ(f.client_port, 40000);
  EXPECT_EQ(f.server_port, 443);
  EXPECT_EQ(f.forward.packets, 2u);
  EXPECT_EQ(f.backward.packets, 2u);
  EXPECT_EQ(f.forward.bytes, 40u + 140u);
  EXPECT_EQ(f.backward.payload_bytes, 1000u);
  EXPECT_NEAR(f.both.iat_mean, 0.05 / 3, 1e-9);
  ASSERT_EQ(f.packets.size(), 4u);
  EXPECT_TRUE(f.packets[0].from_client);
  EXPECT_FALSE(f.packets[1].from_client);
  EXPECT_EQ(f.packets[2].header_length, 40);
  EXPECT_EQ(f.tcp_flag_counts[1], 2u);  // two SYNs
}

TEST(FlowTable, IdleTimeoutSplitsAndMemoryStaysBounded) {
  std::vector<Flow> out;
  FlowTableOptions options;
  options.idle_timeout_s = 10;
  FlowTable table(options, [&](Flow&& f) { out.push_back(std::move(f)); });
  Packets p;
  feed(table, p.tcp(true, tcp_flag::kAck, 10), 0.0);
  feed(table, p.tcp(true, tcp_flag::kAck, 10), 30.0);  // same 5-tuple after 30 s: a new flow
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end, Flow::End::kIdle);
  // Many short flows over a long time: the table never holds more than those alive.
  std::size_t peak = 0;
  for (int i = 0; i < 2000; ++i) {
    feed(table, p.tcp(true, tcp_flag::kAck, 10, static_cast<std::uint16_t>(1000 + i)), 40.0 + i);
    peak = std::max(peak, table.live_flows());
  }
  EXPECT_LE(peak, 13u);
  table.flush();
  EXPECT_EQ(out.size(), 2002u);
}

TEST(FlowTable, FinBothWaysAndRstCloseAndPortReuseStartsNewFlow) {
  std::vector<Flow> out;
  FlowTable table({}, [&](Flow&& f) { out.push_back(std::move(f)); });
  Packets p;
  feed(table, p.tcp(true, tcp_flag::kSyn), 0.0);
  feed(table, p.tcp(false, tcp_flag::kSyn | tcp_flag::kAck), 0.01);
  feed(table, p.tcp(true, tcp_flag::kFin | tcp_flag::kAck), 0.02);
  feed(table, p.tcp(false, tcp_flag::kFin | tcp_flag::kAck), 0.03);
  feed(table, p.tcp(true, tcp_flag::kAck), 0.04);  // the last ACK stays with its flow
  feed(table, p.tcp(true, tcp_flag::kSyn), 0.5);   // a new connection on the same ports
  feed(table, p.tcp(false, tcp_flag::kRst | tcp_flag::kAck), 0.51);
  table.flush();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].end, Flow::End::kFinished);
  EXPECT_EQ(out[0].forward.packets + out[0].backward.packets, 5u);
  EXPECT_EQ(out[1].end, Flow::End::kReset);
}

TEST(FlowTable, ActiveTimeoutCutsLongFlows) {
  std::vector<Flow> out;
  FlowTableOptions options;
  options.active_timeout_s = 60;
  FlowTable table(options, [&](Flow&& f) { out.push_back(std::move(f)); });
  Packets p;
  for (int i = 0; i < 100; ++i) feed(table, p.tcp(i % 2 == 0, tcp_flag::kAck, 10), i * 1.0);
  table.flush();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].end, Flow::End::kActive);
}

}  // namespace
}  // namespace trafficfm::datasets
