#include "datasets/net/packet_builder.h"

#include <stdexcept>

namespace trafficfm::datasets {
namespace {

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kMaxIpv4Total = 65535;

void put_ethernet(std::vector<std::uint8_t>& frame, const Host& src, const Host& dst) {
  put_bytes(frame, dst.mac.data(), 6);
  put_bytes(frame, src.mac.data(), 6);
  put_u16(frame, 0x0800);
}

// Writes the IPv4 header at the end of `frame`; returns its offset.
std::size_t put_ipv4(std::vector<std::uint8_t>& frame, const Host& src, const Host& dst, std::uint16_t ip_id,
                     std::uint8_t protocol, std::size_t l4_length) {
  const std::size_t total = kIpv4Header + l4_length;
  if (total > kMaxIpv4Total) throw std::invalid_argument("IPv4 packet longer than 65535 bytes");
  const std::size_t at = frame.size();
  put_u8(frame, 0x45);  // version 4, IHL 5
  put_u8(frame, 0x00);  // DSCP/ECN
  put_u16(frame, static_cast<std::uint32_t>(total));
  put_u16(frame, ip_id);
  put_u16(frame, 0x4000);  // don't fragment
  put_u8(frame, src.ttl);
  put_u8(frame, protocol);
  put_u16(frame, 0);  // checksum, patched below
  put_u32(frame, src.ipv4);
  put_u32(frame, dst.ipv4);
  patch_u16(frame, at + 10, internet_checksum(frame.data() + at, kIpv4Header));
  return at;
}

// TCP/UDP checksum over the IPv4 pseudo-header and the L4 bytes at `l4_offset`.
std::uint16_t l4_checksum(const std::vector<std::uint8_t>& frame, std::size_t l4_offset, const Host& src,
                          const Host& dst, std::uint8_t protocol) {
  const std::size_t l4_length = frame.size() - l4_offset;
  std::vector<std::uint8_t> pseudo;
  put_u32(pseudo, src.ipv4);
  put_u32(pseudo, dst.ipv4);
  put_u8(pseudo, 0);
  put_u8(pseudo, protocol);
  put_u16(pseudo, static_cast<std::uint32_t>(l4_length));
  std::uint32_t sum = ones_complement_sum(pseudo.data(), pseudo.size());
  sum = ones_complement_sum(frame.data() + l4_offset, l4_length, sum);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

}  // namespace

std::uint32_t ones_complement_sum(const std::uint8_t* data, std::size_t length, std::uint32_t sum) {
  std::uint64_t acc = sum;
  std::size_t i = 0;
  for (; i + 1 < length; i += 2) acc += (static_cast<std::uint32_t>(data[i]) << 8) | data[i + 1];
  if (i < length) acc += static_cast<std::uint32_t>(data[i]) << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint32_t>(acc);
}

std::uint16_t internet_checksum(const std::uint8_t* data, std::size_t length) {
  return static_cast<std::uint16_t>(~ones_complement_sum(data, length) & 0xffff);
}

void patch_u16(std::vector<std::uint8_t>& out, std::size_t offset, std::uint32_t v) {
  out.at(offset) = static_cast<std::uint8_t>(v >> 8);
  out.at(offset + 1) = static_cast<std::uint8_t>(v);
}

void patch_u24(std::vector<std::uint8_t>& out, std::size_t offset, std::uint32_t v) {
  out.at(offset) = static_cast<std::uint8_t>(v >> 16);
  patch_u16(out, offset + 1, v);
}

std::vector<std::uint8_t> build_tcp_frame(const Host& src, const Host& dst, std::uint16_t ip_id,
                                          const TcpSegment& segment, const std::uint8_t* payload,
                                          std::size_t payload_length) {
  const std::size_t options = segment.mss_option ? 4 : 0;
  const std::size_t tcp_header = 20 + options;
  std::vector<std::uint8_t> frame;
  frame.reserve(kEthernetHeader + kIpv4Header + tcp_header + payload_length);
  put_ethernet(frame, src, dst);
  put_ipv4(frame, src, dst, ip_id, kIpProtoTcp, tcp_header + payload_length);
  const std::size_t at = frame.size();
  put_u16(frame, segment.src_port);
  put_u16(frame, segment.dst_port);
  put_u32(frame, segment.seq);
  put_u32(frame, segment.ack);
  put_u8(frame, static_cast<std::uint32_t>(tcp_header / 4) << 4);
  put_u8(frame, segment.flags);
  put_u16(frame, segment.window);
  put_u16(frame, 0);  // checksum
  put_u16(frame, 0);  // urgent pointer
  if (segment.mss_option) {
    put_u8(frame, 2);
    put_u8(frame, 4);
    put_u16(frame, segment.mss_option);
  }
  if (payload_length) put_bytes(frame, payload, payload_length);
  patch_u16(frame, at + 16, l4_checksum(frame, at, src, dst, kIpProtoTcp));
  return frame;
}

std::vector<std::uint8_t> build_udp_frame(const Host& src, const Host& dst, std::uint16_t ip_id,
                                          std::uint16_t src_port, std::uint16_t dst_port,
                                          const std::uint8_t* payload, std::size_t payload_length) {
  std::vector<std::uint8_t> frame;
  frame.reserve(kEthernetHeader + kIpv4Header + kUdpHeader + payload_length);
  put_ethernet(frame, src, dst);
  put_ipv4(frame, src, dst, ip_id, kIpProtoUdp, kUdpHeader + payload_length);
  const std::size_t at = frame.size();
  put_u16(frame, src_port);
  put_u16(frame, dst_port);
  put_u16(frame, static_cast<std::uint32_t>(kUdpHeader + payload_length));
  put_u16(frame, 0);
  if (payload_length) put_bytes(frame, payload, payload_length);
  std::uint16_t checksum = l4_checksum(frame, at, src, dst, kIpProtoUdp);
  if (checksum == 0) checksum = 0xffff;  // RFC 768: 0 means "no checksum"
  patch_u16(frame, at + 6, checksum);
  return frame;
}

}  // namespace trafficfm::datasets
