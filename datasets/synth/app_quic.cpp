#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {
namespace {

constexpr std::uint32_t kQuicVersion1 = 0x00000001;
constexpr std::size_t kMinInitialDatagram = 1200;  // RFC 9000 §14.1

// Long-header packet (RFC 9000 §17.2) with a 4-byte packet number and an opaque (encrypted)
// payload, padded to `datagram` bytes.
std::vector<std::uint8_t> long_header(core::Rng& rng, std::uint8_t type,
                                      const std::vector<std::uint8_t>& dcid,
                                      const std::vector<std::uint8_t>& scid, std::uint32_t packet_number,
                                      std::size_t datagram) {
  std::vector<std::uint8_t> p;
  put_u8(p, 0xc0 | (type << 4) | 0x03);  // long header, fixed bit, type, pn length 4
  put_u32(p, kQuicVersion1);
  put_u8(p, static_cast<std::uint32_t>(dcid.size()));
  put_bytes(p, dcid.data(), dcid.size());
  put_u8(p, static_cast<std::uint32_t>(scid.size()));
  put_bytes(p, scid.data(), scid.size());
  if (type == 0) put_u8(p, 0);                            // Initial: empty token
  const std::size_t remaining = datagram - p.size() - 2;  // length is a 2-byte varint
  put_u16(p, 0x4000 | static_cast<std::uint32_t>(remaining));
  put_u32(p, packet_number);
  const auto payload = random_bytes(rng, remaining - 4);
  put_bytes(p, payload.data(), payload.size());
  return p;
}

std::vector<std::uint8_t> short_header(core::Rng& rng, const std::vector<std::uint8_t>& dcid,
                                       std::size_t size) {
  std::vector<std::uint8_t> p;
  put_u8(p, 0x40 | static_cast<std::uint32_t>(rng.integer(0, 0x1f) & 0x1c) | 0x03);
  put_bytes(p, dcid.data(), dcid.size());
  const auto rest = random_bytes(rng, size - p.size());
  put_bytes(p, rest.data(), rest.size());
  return p;
}

}  // namespace

void quic_flow(UdpConversation& udp, core::Rng& rng) {
  const auto client_cid = random_bytes(rng, 8);
  const auto server_cid = random_bytes(rng, 8);
  const auto original_dcid = random_bytes(rng, 8);
  std::uint32_t client_pn = 0, server_pn = 0;

  udp.send(true, long_header(rng, 0, original_dcid, client_cid, client_pn++, kMinInitialDatagram));
  udp.send(false, long_header(rng, 0, client_cid, server_cid, server_pn++, kMinInitialDatagram),
           rng.lognormal(0.001, 0.5));
  udp.send(false,
           long_header(rng, 2, client_cid, server_cid, server_pn++, random_size(rng, 1100, 0.2, 600, 1252)));
  udp.send(true,
           long_header(rng, 2, server_cid, client_cid, client_pn++, random_size(rng, 90, 0.3, 60, 200)));

  const int requests = static_cast<int>(rng.integer(1, 4));
  for (int r = 0; r < requests; ++r) {
    udp.send(true, short_header(rng, server_cid, random_size(rng, 120, 0.5, 40, 1252)),
             r == 0 ? 0.0 : rng.lognormal(0.4, 1.0));
    std::size_t response = random_size(rng, 12000, 1.3, 200, 600000);
    int since_ack = 0;
    bool first = true;
    while (response > 0) {
      const std::size_t n = std::min<std::size_t>(response, 1252);
      udp.send(false, short_header(rng, client_cid, std::max<std::size_t>(n, 24)),
               first ? rng.lognormal(0.006, 0.8) : 0.0);
      first = false;
      response -= n;
      if (++since_ack == 2 || response == 0) {  // ACK-eliciting packets acknowledged every second
        udp.send(true, short_header(rng, server_cid, random_size(rng, 45, 0.1, 30, 60)));
        since_ack = 0;
      }
    }
  }
}

}  // namespace trafficfm::datasets::synth
