#include "datasets/net/packet_builder.h"

#include <gtest/gtest.h>

namespace trafficfm::datasets {
namespace {

Host host(std::uint32_t ip, std::uint8_t last_mac_byte) {
  Host h;
  h.ipv4 = ip;
  h.mac = {0x02, 0, 0, 0, 0, last_mac_byte};
  return h;
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3 example bytes: the one's-complement sum is 0xddf2.
  const std::uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ones_complement_sum(data, sizeof data), 0xddf2u);
  EXPECT_EQ(internet_checksum(data, sizeof data), static_cast<std::uint16_t>(~0xddf2));
}

TEST(PacketBuilder, TcpFrameLayoutAndChecksums) {
  const Host a = host(0x0a000001, 1), b = host(0xc6120002, 2);
  TcpSegment s;
  s.src_port = 40000;
  s.dst_port = 443;
  s.seq = 1000;
  s.ack = 2000;
  s.flags = tcp_flag::kSyn;
  s.mss_option = 1460;
  const std::uint8_t payload[] = {1, 2, 3};
  const auto f = build_tcp_frame(a, b, 7, s, payload, 3);
  ASSERT_EQ(f.size(), 14u + 20 + 24 + 3);
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[13], 0x00);
  EXPECT_EQ(f[14], 0x45);
  EXPECT_EQ((f[16] << 8) | f[17], 20 + 24 + 3);  // IPv4 total length
  EXPECT_EQ(f[23], kIpProtoTcp);
  EXPECT_EQ(internet_checksum(f.data() + 14, 20), 0);  // header verifies
  EXPECT_EQ(f[34 + 12] >> 4, 6);                       // data offset: 24 bytes
  EXPECT_EQ(f[34 + 13], tcp_flag::kSyn);
  // TCP checksum verifies over the pseudo-header.
  std::vector<std::uint8_t> pseudo = {0x0a, 0, 0, 1, 0xc6, 0x12, 0, 2, 0, 6, 0, 27};
  std::uint32_t sum = ones_complement_sum(pseudo.data(), pseudo.size());
  sum = ones_complement_sum(f.data() + 34, 27, sum);
  EXPECT_EQ(sum, 0xffffu);
}

TEST(PacketBuilder, UdpFrameChecksumVerifies) {
  const Host a = host(0x0a000001, 1), b = host(0xc6120002, 2);
  const std::uint8_t payload[] = {0xde, 0xad, 0xbe};
  const auto f = build_udp_frame(a, b, 1, 5353, 53, payload, 3);
  ASSERT_EQ(f.size(), 14u + 20 + 8 + 3);
  EXPECT_EQ((f[38] << 8) | f[39], 11);  // UDP length
  std::vector<std::uint8_t> pseudo = {0x0a, 0, 0, 1, 0xc6, 0x12, 0, 2, 0, 17, 0, 11};
  std::uint32_t sum = ones_complement_sum(pseudo.data(), pseudo.size());
  sum = ones_complement_sum(f.data() + 34, 11, sum);
  EXPECT_EQ(sum, 0xffffu);
}

}  // namespace
}  // namespace trafficfm::datasets
