#include "tests/support/pcap_reader.h"

#include <pcap/pcap.h>

#include <cstdio>
#include <stdexcept>

namespace trafficfm::testing {
namespace {

std::uint32_t be16(const std::uint8_t* p) { return (p[0] << 8) | p[1]; }
std::uint32_t be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

std::uint16_t fold(std::uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint64_t sum_words(const std::uint8_t* p, std::size_t n) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) s += be16(p + i);
  if (n % 2) s += p[n - 1] << 8;
  return s;
}

}  // namespace

std::string ipv4_text(std::uint32_t ip) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}

std::vector<DecodedPacket> read_ipv4_pcap(const std::string& path, int* link_type) {
  char error[PCAP_ERRBUF_SIZE];
  pcap_t* handle = pcap_open_offline(path.c_str(), error);
  if (!handle) throw std::runtime_error("cannot open " + path + ": " + error);
  if (link_type) *link_type = pcap_datalink(handle);
  std::vector<DecodedPacket> packets;
  pcap_pkthdr* header;
  const u_char* data;
  while (pcap_next_ex(handle, &header, &data) == 1) {
    DecodedPacket p;
    p.time = header->ts.tv_sec + header->ts.tv_usec * 1e-6;
    p.frame.assign(data, data + header->caplen);
    p.frame_length = header->len;
    const std::uint8_t* f = p.frame.data();
    const std::size_t n = p.frame.size();
    if (n < 34 || be16(f + 12) != 0x0800) {
      packets.push_back(std::move(p));
      continue;
    }
    const std::uint8_t* ip = f + 14;
    const std::size_t ihl = (ip[0] & 15) * 4;
    const std::size_t total = be16(ip + 2);
    p.ip_checksum_ok = fold(sum_words(ip, ihl)) == 0xffff;
    p.protocol = ip[9];
    p.src_ip = be32(ip + 12);
    p.dst_ip = be32(ip + 16);
    const std::uint8_t* l4 = ip + ihl;
    const std::size_t l4_length = total - ihl;
    if (14 + total > n) {
      packets.push_back(std::move(p));
      continue;
    }
    std::uint64_t pseudo =
        be16(ip + 12) + be16(ip + 14) + be16(ip + 16) + be16(ip + 18) + p.protocol + l4_length;
    p.l4_checksum_ok = fold(pseudo + sum_words(l4, l4_length)) == 0xffff;
    p.src_port = static_cast<std::uint16_t>(be16(l4));
    p.dst_port = static_cast<std::uint16_t>(be16(l4 + 2));
    if (p.protocol == 6) {
      p.seq = be32(l4 + 4);
      p.ack = be32(l4 + 8);
      p.tcp_flags = l4[13];
      p.payload_offset = 14 + ihl + (l4[12] >> 4) * 4;
    } else {
      p.payload_offset = 14 + ihl + 8;
    }
    packets.push_back(std::move(p));
  }
  pcap_close(handle);
  return packets;
}

}  // namespace trafficfm::testing
