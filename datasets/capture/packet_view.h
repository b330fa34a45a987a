// One captured packet decoded down to the transport header. Every field is bounds-checked
// against the captured length: captures are untrusted input.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace trafficfm::datasets {

// An IPv4 (mapped into the first 4 bytes) or IPv6 address.
struct IpAddress {
  std::uint8_t family = 0;  // 4 or 6
  std::array<std::uint8_t, 16> bytes{};
  // Compared as two 64-bit words (big-endian for the order, which is then the bytes'
  // lexicographic one): the flow table compares addresses for every packet, and std::array's
  // comparisons were a library call each.
  bool operator==(const IpAddress& o) const {
    return family == o.family && word(0) == o.word(0) && word(8) == o.word(8);
  }
  bool operator<(const IpAddress& o) const {
    if (family != o.family) return family < o.family;
    const std::uint64_t hi = __builtin_bswap64(word(0)), o_hi = __builtin_bswap64(o.word(0));
    return hi != o_hi ? hi < o_hi : __builtin_bswap64(word(8)) < __builtin_bswap64(o.word(8));
  }
  std::uint64_t word(std::size_t at) const {
    std::uint64_t w;
    std::memcpy(&w, bytes.data() + at, 8);
    return w;
  }
  std::string text() const;                                    // dotted quad or RFC 5952 IPv6
  static bool parse(const std::string& text, IpAddress& out);  // false when not an address
};

// Why a packet did not yield a transport-level view (counted per reason).
enum class DecodeStatus {
  kOk = 0,
  kUnsupportedLinkType,
  kTruncatedLinkHeader,
  kNotIp,  // ARP, LLDP, ... (not an error, just not traffic we model)
  kTruncatedIpHeader,
  kBadIpHeader,  // wrong version, IHL < 5, total length < header
  kIpFragment,   // non-first fragment: no transport header
  kTruncatedTransportHeader,
  kCount
};
const char* decode_status_name(DecodeStatus status);

struct PacketView {
  std::int64_t timestamp_ns = 0;
  std::uint32_t wire_length = 0;     // the frame's length on the wire
  const std::uint8_t* ip = nullptr;  // start of the IP header (inside the captured frame)
  std::size_t ip_captured = 0;       // captured bytes from `ip` on, clamped to the IP length
  std::uint32_t ip_length = 0;       // the IP packet's own length (header + payload)
  IpAddress src, dst;
  std::uint8_t protocol = 0;                 // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, or other
  std::uint16_t src_port = 0, dst_port = 0;  // 0 for protocols without ports
  std::uint8_t tcp_flags = 0;
  std::size_t transport_offset = 0;  // from `ip`: start of the TCP/UDP/ICMP header
  std::size_t payload_offset = 0;    // from `ip`: first application byte
  std::uint32_t payload_length = 0;  // application bytes by the headers' own lengths
  std::uint8_t ttl = 0;              // TTL / hop limit
};

// Decodes one frame of `link_type` (a DLT_* value). Never reads outside [data, data+caplen).
DecodeStatus decode_packet(int link_type, const std::uint8_t* data, std::size_t caplen,
                           std::uint32_t wire_length, PacketView& out);

// Whether decode_packet understands this link type.
bool link_type_supported(int link_type);

}  // namespace trafficfm::datasets
