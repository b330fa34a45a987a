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

}  // namespace trafficfm::datasets
