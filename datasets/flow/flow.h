// A bidirectional flow: its canonical key, its client/server orientation (the client sent the
// first packet), the first packets kept for encoders, and running statistics over all packets.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datasets/capture/packet_view.h"

namespace trafficfm::datasets {

// Direction-free 5-tuple: the smaller (address, port) endpoint first.
struct FlowKey {
  IpAddress a, b;
  std::uint16_t a_port = 0, b_port = 0;
  std::uint8_t protocol = 0;
  bool operator==(const FlowKey& o) const {
    return protocol == o.protocol && a_port == o.a_port && b_port == o.b_port && a == o.a && b == o.b;
  }
  static FlowKey of(const IpAddress& src, std::uint16_t src_port, const IpAddress& dst,
                    std::uint16_t dst_port, std::uint8_t protocol);
  std::uint64_t hash() const;  // stable across runs and machines (FNV-1a over the fields)
};

// For the flow table's hash map: a fast word-wise mix, computed per packet. (FlowKey::hash()
// is the stable, stored one, computed once per flow.)
struct FlowKeyHasher {
  std::size_t operator()(const FlowKey& k) const;
};

// One of the first packets of a flow, as encoders need it.
struct FlowPacket {
  std::int64_t timestamp_ns = 0;
  bool from_client = true;
  std::uint32_t ip_length = 0;  // the IP packet's length
  std::uint8_t tcp_flags = 0;
  std::uint16_t transport_offset = 0;  // IP header length incl. IPv6 extension headers
  std::uint16_t header_length = 0;     // IP + transport headers, bytes
  std::vector<std::uint8_t> bytes;     // captured IP packet bytes, at most FlowTableOptions::keep_bytes
};

// Running statistics of one direction (NFStream-style).
struct DirectionStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // IP bytes
  std::uint64_t payload_bytes = 0;
  double size_min = 0, size_max = 0, size_mean = 0, size_m2 = 0;  // Welford over IP sizes
  double iat_min = 0, iat_max = 0, iat_mean = 0, iat_m2 = 0;      // seconds between packets
  std::int64_t last_ns = 0;
  void add(std::uint32_t size, std::uint32_t payload, std::int64_t timestamp_ns);
  double size_std() const;
  double iat_std() const;
};

struct Flow {
  FlowKey key;
  IpAddress client, server;
  std::uint16_t client_port = 0, server_port = 0;
  std::uint8_t protocol = 0;
  std::int64_t first_ns = 0, last_ns = 0;
  // The capture file it came from, shared by the file's flows (a string each was an allocation
  // per flow, freed on another thread when prep encodes on its own).
  std::shared_ptr<const std::string> file;
  int link_type = 0;
  std::vector<FlowPacket> packets;   // the first FlowTableOptions::keep_packets packets
  DirectionStats forward, backward;  // client->server, server->client
  DirectionStats both;
  std::uint32_t tcp_flag_counts[8] = {0};  // FIN SYN RST PSH ACK URG ECE CWR
  bool fin_from_client = false, fin_from_server = false;
  enum class End { kIdle, kActive, kFinished, kReset, kEndOfFile } end = End::kEndOfFile;
};

}  // namespace trafficfm::datasets
