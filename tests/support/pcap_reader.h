// A small, independent reader of Ethernet/IPv4 pcap files for the tests: it checks what the
// generator wrote without sharing code with it (so a bug in one is not hidden by the other).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trafficfm::testing {

struct DecodedPacket {
  double time = 0;
  std::uint32_t src_ip = 0, dst_ip = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t tcp_flags = 0;
  std::uint32_t seq = 0, ack = 0;
  std::size_t frame_length = 0;
  std::size_t payload_offset = 0;  // into frame
  std::vector<std::uint8_t> frame;
  bool ip_checksum_ok = false;
  bool l4_checksum_ok = false;
};

// Reads every packet; throws with the file name when the file cannot be opened.
std::vector<DecodedPacket> read_ipv4_pcap(const std::string& path, int* link_type = nullptr);

std::string ipv4_text(std::uint32_t ip);

}  // namespace trafficfm::testing
