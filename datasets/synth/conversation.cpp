#include "datasets/synth/conversation.h"

#include <algorithm>

namespace trafficfm::datasets::synth {
namespace {

// A 1,500-byte frame on a 100 Mbit/s path: back-to-back segments are this far apart.
constexpr double kSerializationPerByte = 8.0 / 100e6;
// How long a client's stack takes to react to a packet it has just seen.
constexpr double kClientStackDelay = 60e-6;

}  // namespace

Conversation::Conversation(const FlowEndpoints& endpoints, double start_time, double rtt, core::Rng& rng)
    : ends_(endpoints), rtt_(rtt), rng_(rng), last_time_{start_time, start_time - rtt} {
  ip_id_[0] = static_cast<std::uint16_t>(rng_.integer(0, 65535));
  ip_id_[1] = static_cast<std::uint16_t>(rng_.integer(0, 65535));
}

double Conversation::next_send_time(bool from_client, double think) const {
  if (from_client) {
    return std::max(last_time_[0], last_time_[1] + kClientStackDelay * (1.0 + rng_.uniform()) + think);
  }
  return std::max(last_time_[1], last_time_[0] + rtt_ + think);
}

void Conversation::emit(double time, bool from_client, std::vector<std::uint8_t> frame) {
  double& last = last_time_[from_client ? 0 : 1];
  last = std::max(last, time);
  packets_.push_back(SynthPacket{time, std::move(frame), from_client});
}

TcpConversation::TcpConversation(const FlowEndpoints& endpoints, double start_time, double rtt,
                                 core::Rng& rng)
    : Conversation(endpoints, start_time, rtt, rng) {
  next_seq_[0] = static_cast<std::uint32_t>(rng_.next());
  next_seq_[1] = static_cast<std::uint32_t>(rng_.next());
  window_[0] = static_cast<std::uint16_t>(rng_.integer(16000, 65535));
  window_[1] = static_cast<std::uint16_t>(rng_.integer(16000, 65535));
}

void TcpConversation::emit_segment(double time, bool from_client, std::uint8_t flags,
                                   const std::uint8_t* data, std::size_t length, std::uint16_t mss_option) {
  const int me = from_client ? 0 : 1;
  TcpSegment segment;
  segment.src_port = from_client ? ends_.client_port : ends_.server_port;
  segment.dst_port = from_client ? ends_.server_port : ends_.client_port;
  segment.seq = next_seq_[me];
  segment.ack = (flags & tcp_flag::kAck) ? next_seq_[1 - me] : 0;
  segment.flags = flags;
  segment.window = window_[me];
  segment.mss_option = mss_option;
  emit(time, from_client,
       build_tcp_frame(sender(from_client), receiver(from_client), next_ip_id(from_client), segment, data,
                       length));
  // SYN and FIN each take one sequence number.
  next_seq_[me] += static_cast<std::uint32_t>(length) + ((flags & (tcp_flag::kSyn | tcp_flag::kFin)) ? 1 : 0);
}

void TcpConversation::handshake() {
  emit_segment(last_time_[0], true, tcp_flag::kSyn, nullptr, 0, kMss);
  emit_segment(next_send_time(false, 0.0), false, tcp_flag::kSyn | tcp_flag::kAck, nullptr, 0, kMss);
  emit_segment(next_send_time(true, 0.0), true, tcp_flag::kAck, nullptr, 0);
}

void TcpConversation::send(bool from_client, const std::vector<std::uint8_t>& data, double think) {
  double t = next_send_time(from_client, think);
  const std::size_t segments = (data.size() + kMss - 1) / kMss;
  // Where the receiver sees each segment: at once for the client, a round trip on for the
  // server (its ACK comes back to the capture point then).
  const double ack_delay = from_client ? rtt_ : kClientStackDelay;
  for (std::size_t i = 0; i < segments; ++i) {
    const std::size_t offset = i * kMss;
    const std::size_t length = std::min(kMss, data.size() - offset);
    const bool last = i + 1 == segments;
    const std::uint8_t flags = tcp_flag::kAck | (last ? tcp_flag::kPsh : 0);
    emit_segment(t, from_client, flags, data.data() + offset, length);
    if (i % 2 == 1 || last) {
      // The receiver's ACK for what it has so far: the cumulative ACK number is the sender's
      // next sequence number at this moment.
      emit_segment(t + ack_delay, !from_client, tcp_flag::kAck, nullptr, 0);
    }
    t += (length + 54) * kSerializationPerByte * (1.0 + 0.2 * rng_.uniform());
  }
}

void TcpConversation::close(bool client_first, double think) {
  emit_segment(next_send_time(client_first, think), client_first, tcp_flag::kFin | tcp_flag::kAck, nullptr,
               0);
  emit_segment(next_send_time(!client_first, 0.0), !client_first, tcp_flag::kFin | tcp_flag::kAck, nullptr,
               0);
  emit_segment(next_send_time(client_first, 0.0), client_first, tcp_flag::kAck, nullptr, 0);
}

void TcpConversation::segment(bool from_client, std::uint8_t flags, double think) {
  emit_segment(next_send_time(from_client, think), from_client, flags, nullptr, 0,
               (flags & tcp_flag::kSyn) ? kMss : 0);
}

void UdpConversation::send(bool from_client, const std::vector<std::uint8_t>& data, double think) {
  double t = packets_.empty() && from_client ? last_time_[0] : next_send_time(from_client, think);
  if (!packets_.empty()) {  // back-to-back datagrams of one side are a serialization time apart
    t = std::max(t, last_time_[from_client ? 0 : 1] + (data.size() + 42) * kSerializationPerByte);
  }
  emit(t, from_client,
       build_udp_frame(sender(from_client), receiver(from_client), next_ip_id(from_client),
                       from_client ? ends_.client_port : ends_.server_port,
                       from_client ? ends_.server_port : ends_.client_port, data.data(), data.size()));
}

}  // namespace trafficfm::datasets::synth
