// Link layers, IPv6 extension headers and hostile input for the packet decoder.
#include "datasets/capture/packet_view.h"

#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include "core/rng.h"
#include "datasets/net/packet_builder.h"

namespace trafficfm::datasets {
namespace {

std::vector<std::uint8_t> tcp_ipv4_frame() {
  Host a, b;
  a.ipv4 = 0x0a000001;
  b.ipv4 = 0x0a000002;
  TcpSegment s;
  s.src_port = 1234;
  s.dst_port = 80;
  s.flags = tcp_flag::kAck | tcp_flag::kPsh;
  const std::uint8_t payload[] = {'G', 'E', 'T', ' '};
  return build_tcp_frame(a, b, 1, s, payload, sizeof payload);
}

void expect_tcp_view(const PacketView& v) {
  EXPECT_EQ(v.src.text(), "10.0.0.1");
  EXPECT_EQ(v.dst.text(), "10.0.0.2");
  EXPECT_EQ(v.protocol, 6);
  EXPECT_EQ(v.src_port, 1234);
  EXPECT_EQ(v.dst_port, 80);
  EXPECT_EQ(v.payload_length, 4u);
  EXPECT_EQ(v.ip[v.payload_offset], 'G');
}

TEST(PacketView, Ethernet) {
  const auto f = tcp_ipv4_frame();
  PacketView v;
  ASSERT_EQ(decode_packet(DLT_EN10MB, f.data(), f.size(), f.size(), v), DecodeStatus::kOk);
  expect_tcp_view(v);
}

TEST(PacketView, VlanAndQinQ) {
  auto f = tcp_ipv4_frame();
  // 802.1ad outer tag + 802.1Q inner tag between the MACs and the ethertype.
  const std::uint8_t tags[] = {0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8};
  f.insert(f.begin() + 12, tags, tags + sizeof tags);
  PacketView v;
  ASSERT_EQ(decode_packet(DLT_EN10MB, f.data(), f.size(), f.size(), v), DecodeStatus::kOk);
  expect_tcp_view(v);
}

TEST(PacketView, LinuxCookedV1AndV2RawAndLoopback) {
  const auto eth = tcp_ipv4_frame();
  const std::vector<std::uint8_t> ip(eth.begin() + 14, eth.end());
  PacketView v;
  std::vector<std::uint8_t> sll(16, 0);
  sll[14] = 0x08;
  sll.insert(sll.end(), ip.begin(), ip.end());
  ASSERT_EQ(decode_packet(DLT_LINUX_SLL, sll.data(), sll.size(), sll.size(), v), DecodeStatus::kOk);
  expect_tcp_view(v);
  std::vector<std::uint8_t> sll2(20, 0);
  sll2[0] = 0x08;
  sll2.insert(sll2.end(), ip.begin(), ip.end());
  ASSERT_EQ(decode_packet(276, sll2.data(), sll2.size(), sll2.size(), v), DecodeStatus::kOk);
  expect_tcp_view(v);
  for (int link : {DLT_RAW, 101, 228}) {
    ASSERT_EQ(decode_packet(link, ip.data(), ip.size(), ip.size(), v), DecodeStatus::kOk) << link;
    expect_tcp_view(v);
  }
  std::vector<std::uint8_t> null_frame = {2, 0, 0, 0};  // AF_INET, host byte order (little endian)
  null_frame.insert(null_frame.end(), ip.begin(), ip.end());
  ASSERT_EQ(decode_packet(DLT_NULL, null_frame.data(), null_frame.size(), null_frame.size(), v),
            DecodeStatus::kOk);
  expect_tcp_view(v);
  std::vector<std::uint8_t> loop_frame = {0, 0, 0, 2};  // DLT_LOOP: network byte order
  loop_frame.insert(loop_frame.end(), ip.begin(), ip.end());
  ASSERT_EQ(decode_packet(DLT_LOOP, loop_frame.data(), loop_frame.size(), loop_frame.size(), v),
            DecodeStatus::kOk);
  expect_tcp_view(v);
}

TEST(PacketView, Ipv6WithExtensionHeadersAndUdp) {
  std::vector<std::uint8_t> ip(40, 0);
  ip[0] = 0x60;
  ip[6] = 0;  // next: hop-by-hop
  ip[7] = 64;
  ip[8] = 0x20;
  ip[9] = 0x01;  // 2001::1
  ip[23] = 1;
  ip[24] = 0x20;
  ip[25] = 0x01;
  ip[39] = 2;
  const std::uint8_t hop_by_hop[8] = {60, 0, 1, 4, 0, 0, 0, 0};  // next: destination options, 8 bytes
  const std::uint8_t dest_opts[8] = {17, 0, 1, 4, 0, 0, 0, 0};   // next: UDP
  const std::uint8_t udp[12] = {0x13, 0x88, 0x00, 0x35, 0, 12, 0, 0, 'a', 'b', 'c', 'd'};
  ip.insert(ip.end(), hop_by_hop, hop_by_hop + 8);
  ip.insert(ip.end(), dest_opts, dest_opts + 8);
  ip.insert(ip.end(), udp, udp + 12);
  ip[5] = static_cast<std::uint8_t>(ip.size() - 40);
  PacketView v;
  ASSERT_EQ(decode_packet(229, ip.data(), ip.size(), ip.size(), v), DecodeStatus::kOk);
  EXPECT_EQ(v.src.text(), "2001::1");
  EXPECT_EQ(v.dst.text(), "2001::2");
  EXPECT_EQ(v.protocol, 17);
  EXPECT_EQ(v.transport_offset, 56u);
  EXPECT_EQ(v.src_port, 5000);
  EXPECT_EQ(v.dst_port, 53);
  EXPECT_EQ(v.payload_length, 4u);
}

TEST(PacketView, TruncationsAndBadHeadersAreClassified) {
  const auto f = tcp_ipv4_frame();
  PacketView v;
  EXPECT_EQ(decode_packet(DLT_EN10MB, f.data(), 10, f.size(), v), DecodeStatus::kTruncatedLinkHeader);
  EXPECT_EQ(decode_packet(DLT_EN10MB, f.data(), 20, f.size(), v), DecodeStatus::kTruncatedIpHeader);
  EXPECT_EQ(decode_packet(DLT_EN10MB, f.data(), 40, f.size(), v), DecodeStatus::kTruncatedTransportHeader);
  EXPECT_EQ(decode_packet(147, f.data(), f.size(), f.size(), v), DecodeStatus::kUnsupportedLinkType);
  auto bad = f;
  bad[14] = 0x43;  // IHL 3
  EXPECT_EQ(decode_packet(DLT_EN10MB, bad.data(), bad.size(), bad.size(), v), DecodeStatus::kBadIpHeader);
  auto arp = f;
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(decode_packet(DLT_EN10MB, arp.data(), arp.size(), arp.size(), v), DecodeStatus::kNotIp);
  auto fragment = f;
  fragment[20] = 0x00;
  fragment[21] = 0x10;  // fragment offset 16 (x8 bytes)
  EXPECT_EQ(decode_packet(DLT_EN10MB, fragment.data(), fragment.size(), fragment.size(), v),
            DecodeStatus::kIpFragment);
}

TEST(PacketView, RandomGarbageNeverReadsOutOfBounds) {
  // Under AddressSanitizer (scripts/test.sh runs the unit tests in an ASan build) any read
  // past the buffer fails this test.
  core::Rng rng(5);
  const int links[] = {DLT_EN10MB, DLT_LINUX_SLL, 276,      DLT_RAW, 228,
                       229,        DLT_NULL,      DLT_LOOP, DLT_PPP, DLT_C_HDLC};
  const auto valid = tcp_ipv4_frame();
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> data;
    if (i % 2) {
      data = valid;  // mutate a valid frame: the interesting cases are near-valid
      for (int m = 0; m < 4; ++m)
        data[rng.integer(0, data.size() - 1)] = static_cast<std::uint8_t>(rng.next());
      data.resize(rng.integer(0, data.size()));
    } else {
      data.resize(rng.integer(0, 120));
      for (auto& b : data) b = static_cast<std::uint8_t>(rng.next());
      if (!data.empty()) data[0] = (data[0] & 0x0f) | (rng.bernoulli(0.5) ? 0x40 : 0x60);
    }
    // Exactly-sized heap copy so ASan catches any overrun.
    std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[data.size() + (data.empty() ? 1 : 0)]);
    std::copy(data.begin(), data.end(), exact.get());
    PacketView v;
    ok += decode_packet(links[i % 10], exact.get(), data.size(), 1500, v) == DecodeStatus::kOk;
    if (v.ip && v.ip_captured) {
      ASSERT_LE(v.ip + v.ip_captured, exact.get() + data.size());
    }
  }
  EXPECT_GT(ok, 100);
}

TEST(IpAddress, ParsesAndPrints) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("192.168.2.126", a));
  EXPECT_EQ(a.family, 4);
  EXPECT_EQ(a.text(), "192.168.2.126");
  ASSERT_TRUE(IpAddress::parse("2a01:cb01:2049:8b07::1", a));
  EXPECT_EQ(a.family, 6);
  EXPECT_FALSE(IpAddress::parse("2600:1901::7a0b::", a));
}

}  // namespace
}  // namespace trafficfm::datasets
