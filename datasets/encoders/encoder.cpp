#include "datasets/encoders/encoder.h"

#include <stdexcept>

namespace trafficfm::datasets {

std::unique_ptr<Encoder> make_mmae_encoder(const EncoderOptions& options);
std::unique_ptr<Encoder> make_lens_encoder(const EncoderOptions& options);
std::unique_ptr<Encoder> make_flows_encoder(const EncoderOptions& options);
std::unique_ptr<Encoder> make_graph_encoder(const EncoderOptions& options);

const std::vector<std::string>& encoder_names() {
  static const std::vector<std::string> names = {"mmae", "lens", "flows", "graph"};
  return names;
}

std::unique_ptr<Encoder> make_encoder(const std::string& name, const EncoderOptions& options) {
  if (name == "mmae") return make_mmae_encoder(options);
  if (name == "lens") return make_lens_encoder(options);
  if (name == "flows") return make_flows_encoder(options);
  if (name == "graph") return make_graph_encoder(options);
  throw std::invalid_argument("unknown encoder '" + name + "' (expected mmae, lens, flows or graph)");
}

void anonymize_ip_bytes(std::uint8_t* ip, std::size_t length, std::size_t transport_offset,
                        std::uint8_t protocol) {
  auto zero = [&](std::size_t from, std::size_t count) {
    for (std::size_t i = from; i < from + count && i < length; ++i) ip[i] = 0;
  };
  if (length == 0) return;
  const int version = ip[0] >> 4;
  if (version == 4) {
    zero(10, 2);  // header checksum
    zero(12, 8);  // source and destination address
  } else if (version == 6) {
    zero(8, 32);
  }
  if (transport_offset == 0 || transport_offset >= length) return;
  switch (protocol) {
    case 6:  // TCP: ports, checksum
      zero(transport_offset, 4);
      zero(transport_offset + 16, 2);
      break;
    case 17:
    case 136:  // UDP: ports, checksum
      zero(transport_offset, 4);
      zero(transport_offset + 6, 2);
      break;
    case 1:
    case 58:  // ICMP: checksum
      zero(transport_offset + 2, 2);
      break;
    default:
      break;
  }
}

std::uint32_t FlowAnonymizer::Base::relative(int direction, std::uint32_t number) {
  if (!known[direction]) {
    value[direction] = number;
    known[direction] = true;
  }
  return number - value[direction];  // modulo 2^32, as the numbers wrap
}

void FlowAnonymizer::apply(std::uint8_t* ip, std::size_t length, const FlowPacket& packet) {
  const std::size_t t = packet.transport_offset;
  anonymize_ip_bytes(ip, length, t, protocol_);
  const int self = packet.from_client ? 0 : 1;
  if (length >= 6 && ip[0] >> 4 == 4) {
    const std::uint32_t id = ip_id_.relative(self, (std::uint32_t{ip[4]} << 8) | ip[5]);
    ip[4] = static_cast<std::uint8_t>(id >> 8);
    ip[5] = static_cast<std::uint8_t>(id);
  }
  if (protocol_ != 6 || t == 0) return;
  auto read = [&](std::size_t at) {
    return (std::uint32_t{ip[at]} << 24) | (std::uint32_t{ip[at + 1]} << 16) |
           (std::uint32_t{ip[at + 2]} << 8) | std::uint32_t{ip[at + 3]};
  };
  auto write = [&](std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) ip[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
  };
  if (t + 8 <= length) write(t + 4, tcp_.relative(self, read(t + 4)));
  const bool has_ack = t + 14 <= length && (ip[t + 13] & 0x10) != 0;
  if (has_ack) write(t + 8, tcp_.relative(1 - self, read(t + 8)));
}

}  // namespace trafficfm::datasets
