#include "datasets/capture/packet_view.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>

#include <cstring>

namespace trafficfm::datasets {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr int kLinkTypeIpv4 = 228;  // LINKTYPE_IPV4
constexpr int kLinkTypeIpv6 = 229;  // LINKTYPE_IPV6
constexpr int kLinkTypeSll2 = 276;  // LINKTYPE_LINUX_SLL2
constexpr int kLinkTypeRaw = 101;   // LINKTYPE_RAW as stored in files (libpcap maps it to DLT_RAW)

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// Where the network layer starts, and which one it is (4, 6, or 0 for "not IP").
struct NetworkStart {
  std::size_t offset = 0;
  int version = 0;
};

DecodeStatus find_network_layer(int link_type, const std::uint8_t* d, std::size_t n, NetworkStart& out) {
  auto from_ethertype = [&](std::uint16_t type, std::size_t offset) {
    out.offset = offset;
    out.version = type == kEtherIpv4 ? 4 : type == kEtherIpv6 ? 6 : 0;
    return out.version ? DecodeStatus::kOk : DecodeStatus::kNotIp;
  };
  auto from_version_nibble = [&](std::size_t offset) {
    if (n <= offset) return DecodeStatus::kTruncatedLinkHeader;
    out.offset = offset;
    out.version = d[offset] >> 4;
    return out.version == 4 || out.version == 6 ? DecodeStatus::kOk : DecodeStatus::kNotIp;
  };
  switch (link_type) {
    case DLT_EN10MB: {
      if (n < 14) return DecodeStatus::kTruncatedLinkHeader;
      std::size_t offset = 12;
      std::uint16_t type = be16(d + offset);
      // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag: skip up to four stacked tags.
      for (int tags = 0; (type == 0x8100 || type == 0x88a8 || type == 0x9100) && tags < 4; ++tags) {
        offset += 4;
        if (n < offset + 2) return DecodeStatus::kTruncatedLinkHeader;
        type = be16(d + offset);
      }
      return from_ethertype(type, offset + 2);
    }
    case DLT_LINUX_SLL:
      if (n < 16) return DecodeStatus::kTruncatedLinkHeader;
      return from_ethertype(be16(d + 14), 16);
    case kLinkTypeSll2:
      if (n < 20) return DecodeStatus::kTruncatedLinkHeader;
      return from_ethertype(be16(d), 20);
    case DLT_RAW:
    case kLinkTypeRaw:
    case 14:  // DLT_RAW on OpenBSD
    case kLinkTypeIpv4:
    case kLinkTypeIpv6:
      return from_version_nibble(0);
    case DLT_NULL:
    case DLT_LOOP: {
      if (n < 4) return DecodeStatus::kTruncatedLinkHeader;
      std::uint32_t family;
      std::memcpy(&family, d, 4);
      if (link_type == DLT_LOOP) family = ntohl(family);
      // The writer's byte order is unknown for DLT_NULL: accept either.
      if (family > 0xffff) family = ntohl(family);
      if (family == 2) return from_version_nibble(4);
      if (family == 24 || family == 28 || family == 30 || family == 10) return from_version_nibble(4);
      return DecodeStatus::kNotIp;
    }
    case DLT_PPP: {  // RFC 1662: optional ff 03, then a 2-byte protocol
      std::size_t offset = (n >= 2 && d[0] == 0xff && d[1] == 0x03) ? 2 : 0;
      if (n < offset + 2) return DecodeStatus::kTruncatedLinkHeader;
      const std::uint16_t proto = be16(d + offset);
      if (proto == 0x0021) return from_version_nibble(offset + 2);
      if (proto == 0x0057) return from_version_nibble(offset + 2);
      return DecodeStatus::kNotIp;
    }
    case DLT_C_HDLC:
      if (n < 4) return DecodeStatus::kTruncatedLinkHeader;
      return from_ethertype(be16(d + 2), 4);
    default:
      return DecodeStatus::kUnsupportedLinkType;
  }
}

}  // namespace

bool link_type_supported(int link_type) {
  switch (link_type) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case kLinkTypeSll2:
    case DLT_RAW:
    case kLinkTypeRaw:
    case 14:
    case kLinkTypeIpv4:
    case kLinkTypeIpv6:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_PPP:
    case DLT_C_HDLC:
      return true;
    default:
      return false;
  }
}

const char* decode_status_name(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kUnsupportedLinkType:
      return "unsupported link type";
    case DecodeStatus::kTruncatedLinkHeader:
      return "truncated link header";
    case DecodeStatus::kNotIp:
      return "not IP";
    case DecodeStatus::kTruncatedIpHeader:
      return "truncated IP header";
    case DecodeStatus::kBadIpHeader:
      return "bad IP header";
    case DecodeStatus::kIpFragment:
      return "IP fragment";
    case DecodeStatus::kTruncatedTransportHeader:
      return "truncated transport header";
    case DecodeStatus::kCount:
      break;
  }
  return "?";
}

DecodeStatus decode_packet(int link_type, const std::uint8_t* data, std::size_t caplen,
                           std::uint32_t wire_length, PacketView& out) {
  out = PacketView{};
  out.wire_length = wire_length;
  NetworkStart net;
  const DecodeStatus link = find_network_layer(link_type, data, caplen, net);
  if (link != DecodeStatus::kOk) return link;
  const std::uint8_t* ip = data + net.offset;
  std::size_t available = caplen - net.offset;
  out.ip = ip;

  std::size_t header = 0;
  std::uint8_t next = 0;
  bool later_fragment = false;
  if (net.version == 4) {
    if (available < 20) return DecodeStatus::kTruncatedIpHeader;
    if ((ip[0] >> 4) != 4) return DecodeStatus::kBadIpHeader;
    header = (ip[0] & 15) * 4u;
    out.ip_length = be16(ip + 2);
    if (header < 20 || out.ip_length < header) return DecodeStatus::kBadIpHeader;
    if (available < header) return DecodeStatus::kTruncatedIpHeader;
    next = ip[9];
    out.ttl = ip[8];
    later_fragment = (be16(ip + 6) & 0x1fff) != 0;
    out.src.family = out.dst.family = 4;
    std::memcpy(out.src.bytes.data(), ip + 12, 4);
    std::memcpy(out.dst.bytes.data(), ip + 16, 4);
  } else {
    if (available < 40) return DecodeStatus::kTruncatedIpHeader;
    if ((ip[0] >> 4) != 6) return DecodeStatus::kBadIpHeader;
    out.ip_length = 40u + be16(ip + 4);
    next = ip[6];
    out.ttl = ip[7];
    out.src.family = out.dst.family = 6;
    std::memcpy(out.src.bytes.data(), ip + 8, 16);
    std::memcpy(out.dst.bytes.data(), ip + 24, 16);
    header = 40;
    // Extension headers: hop-by-hop 0, routing 43, fragment 44, AH 51, destination 60, mobility 135.
    for (int hops = 0; hops < 16; ++hops) {
      if (next == 0 || next == 43 || next == 60 || next == 135) {
        if (available < header + 8) return DecodeStatus::kTruncatedIpHeader;
        const std::uint8_t following = ip[header];
        header += (ip[header + 1] + 1u) * 8u;
        next = following;
      } else if (next == 44) {
        if (available < header + 8) return DecodeStatus::kTruncatedIpHeader;
        later_fragment = (be16(ip + header + 2) & 0xfff8) != 0;
        next = ip[header];
        header += 8;
      } else if (next == 51) {
        if (available < header + 8) return DecodeStatus::kTruncatedIpHeader;
        const std::uint8_t following = ip[header];
        header += (ip[header + 1] + 2u) * 4u;
        next = following;
      } else {
        break;
      }
    }
    if (out.ip_length < header) return DecodeStatus::kBadIpHeader;
    if (available < header) return DecodeStatus::kTruncatedIpHeader;
  }
  out.protocol = next;
  out.ip_captured = std::min<std::size_t>(available, out.ip_length);
  out.transport_offset = header;
  if (later_fragment) return DecodeStatus::kIpFragment;

  const std::size_t left = out.ip_captured - header;
  const std::uint8_t* l4 = ip + header;
  std::size_t l4_header = 0;
  switch (next) {
    case 6:
      if (left < 20) return DecodeStatus::kTruncatedTransportHeader;
      l4_header = (l4[12] >> 4) * 4u;
      if (l4_header < 20 || left < l4_header) return DecodeStatus::kTruncatedTransportHeader;
      out.src_port = be16(l4);
      out.dst_port = be16(l4 + 2);
      out.tcp_flags = l4[13];
      break;
    case 17:
    case 136:  // UDP-Lite has the same port layout
      if (left < 8) return DecodeStatus::kTruncatedTransportHeader;
      l4_header = 8;
      out.src_port = be16(l4);
      out.dst_port = be16(l4 + 2);
      break;
    case 1:
    case 58:
      if (left < 4) return DecodeStatus::kTruncatedTransportHeader;
      l4_header = (next == 1 || next == 58) ? 8 : 4;
      l4_header = std::min(l4_header, left);
      break;
    default:
      l4_header = 0;  // other protocols: a flow by addresses and protocol alone
  }
  out.payload_offset = header + l4_header;
  out.payload_length =
      out.ip_length > out.payload_offset ? out.ip_length - static_cast<std::uint32_t>(out.payload_offset) : 0;
  return DecodeStatus::kOk;
}

std::string IpAddress::text() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf) ? buf : "?";
  if (family == 6) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) ? buf : "?";
  return "";
}

bool IpAddress::parse(const std::string& text, IpAddress& out) {
  out = IpAddress{};
  if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
    out.family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
    out.family = 6;
    return true;
  }
  return false;
}

}  // namespace trafficfm::datasets
