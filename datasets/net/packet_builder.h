// Builds complete Ethernet/IPv4/TCP|UDP frames with valid IPv4, TCP and UDP checksums.
// Used by the synthetic corpus generator and by tests that need hand-made packets.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace trafficfm::datasets {

using MacAddress = std::array<std::uint8_t, 6>;

struct Host {
  MacAddress mac{};
  std::uint32_t ipv4 = 0;  // host byte order
  std::uint8_t ttl = 64;   // initial TTL of this host's stack (64 Linux/macOS, 128 Windows)
};

namespace tcp_flag {
constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kRst = 0x04;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;
}  // namespace tcp_flag

constexpr std::uint8_t kIpProtoTcp = 6;
constexpr std::uint8_t kIpProtoUdp = 17;

// RFC 1071 one's-complement sum over `length` bytes, folded, not inverted.
std::uint32_t ones_complement_sum(const std::uint8_t* data, std::size_t length, std::uint32_t sum = 0);
// Inverted, folded checksum of `data` (0 when the data already carries a correct checksum).
std::uint16_t internet_checksum(const std::uint8_t* data, std::size_t length);

struct TcpSegment {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 64240;
  std::uint16_t mss_option = 0;  // >0 adds an MSS option (SYN and SYN/ACK)
};

std::vector<std::uint8_t> build_tcp_frame(const Host& src, const Host& dst, std::uint16_t ip_id,
                                          const TcpSegment& segment, const std::uint8_t* payload,
                                          std::size_t payload_length);

std::vector<std::uint8_t> build_udp_frame(const Host& src, const Host& dst, std::uint16_t ip_id,
                                          std::uint16_t src_port, std::uint16_t dst_port,
                                          const std::uint8_t* payload, std::size_t payload_length);

// Big-endian appenders for building protocol messages.
inline void put_u8(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put_u16(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put_u24(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  put_u16(out, v);
}
inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put_u16(out, v >> 16);
  put_u16(out, v);
}
inline void put_bytes(std::vector<std::uint8_t>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}
// Overwrites a big-endian 16/24-bit length at `offset` (for length-prefixed structures).
void patch_u16(std::vector<std::uint8_t>& out, std::size_t offset, std::uint32_t v);
void patch_u24(std::vector<std::uint8_t>& out, std::size_t offset, std::uint32_t v);

}  // namespace trafficfm::datasets
