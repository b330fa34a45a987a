// Packet-level simulators of one TCP connection or one UDP exchange between a client and a
// server, as seen by a capture point next to the client: a client packet appears when it is
// sent, a server packet one round-trip after what it answers. TCP keeps sequence and
// acknowledgement numbers exact (tshark reassembles the streams), segments at the MSS and
// acknowledges every second segment and the last one.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "datasets/net/packet_builder.h"

namespace trafficfm::datasets::synth {

struct SynthPacket {
  double time = 0;  // seconds since the epoch
  std::vector<std::uint8_t> frame;
  bool from_client = true;
};

struct FlowEndpoints {
  Host client;
  Host server;
  std::uint16_t client_port = 0;
  std::uint16_t server_port = 0;
};

class Conversation {
 public:
  Conversation(const FlowEndpoints& endpoints, double start_time, double rtt, core::Rng& rng);

  double rtt() const { return rtt_; }
  double last_time() const { return last_time_[0] > last_time_[1] ? last_time_[0] : last_time_[1]; }
  const std::vector<SynthPacket>& packets() const { return packets_; }
  std::vector<SynthPacket> take_packets() { return std::move(packets_); }

 protected:
  // When `from_client`'s side can next put a packet on the wire: after its own last packet,
  // and `think` seconds after it has seen the other side's (for the server, a round trip after
  // the client's packet was captured).
  double next_send_time(bool from_client, double think) const;
  void emit(double time, bool from_client, std::vector<std::uint8_t> frame);
  std::uint16_t next_ip_id(bool from_client) { return ip_id_[from_client ? 0 : 1]++; }
  const Host& sender(bool from_client) const { return from_client ? ends_.client : ends_.server; }
  const Host& receiver(bool from_client) const { return from_client ? ends_.server : ends_.client; }

  FlowEndpoints ends_;
  double rtt_;
  core::Rng& rng_;
  double last_time_[2];  // the last packet each side [client, server] sent, at the capture point
  std::uint16_t ip_id_[2];
  std::vector<SynthPacket> packets_;
};

class TcpConversation : public Conversation {
 public:
  static constexpr std::size_t kMss = 1460;
  TcpConversation(const FlowEndpoints& endpoints, double start_time, double rtt, core::Rng& rng);

  void handshake();  // SYN, SYN/ACK, ACK
  // One application message from one side, segmented at the MSS with PSH on the last segment.
  void send(bool from_client, const std::vector<std::uint8_t>& data, double think = 0.0);
  // Orderly close: FIN/ACK from `client_first`'s side, FIN/ACK back, final ACK.
  void close(bool client_first, double think = 0.0);
  // A bare segment with the given flags at the current sequence numbers (scans, resets).
  void segment(bool from_client, std::uint8_t flags, double think = 0.0);

 private:
  void emit_segment(double time, bool from_client, std::uint8_t flags, const std::uint8_t* data,
                    std::size_t length, std::uint16_t mss_option = 0);
  std::uint32_t next_seq_[2];  // [client, server]
  std::uint16_t window_[2];
};

class UdpConversation : public Conversation {
 public:
  using Conversation::Conversation;
  void send(bool from_client, const std::vector<std::uint8_t>& data, double think = 0.0);
};

}  // namespace trafficfm::datasets::synth
