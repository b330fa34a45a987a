#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {
namespace {

void put_name(std::vector<std::uint8_t>& out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    put_u8(out, static_cast<std::uint32_t>(dot - start));
    put_bytes(out, name.data() + start, dot - start);
    start = dot + 1;
  }
  put_u8(out, 0);
}

}  // namespace

void dns_flow(UdpConversation& udp, core::Rng& rng, const std::string& name) {
  const std::uint16_t id = static_cast<std::uint16_t>(rng.integer(0, 65535));
  const bool ipv6 = rng.bernoulli(0.3);
  const std::uint16_t qtype = ipv6 ? 28 : 1;  // AAAA or A

  std::vector<std::uint8_t> query;
  put_u16(query, id);
  put_u16(query, 0x0100);  // standard query, recursion desired
  put_u16(query, 1);       // QDCOUNT
  put_u16(query, 0);
  put_u16(query, 0);
  put_u16(query, 0);
  const std::size_t question_at = query.size();
  put_name(query, name);
  put_u16(query, qtype);
  put_u16(query, 1);  // IN
  udp.send(true, query);

  const bool nxdomain = rng.bernoulli(0.05);
  const int answers = nxdomain ? 0 : static_cast<int>(rng.integer(1, 4));
  std::vector<std::uint8_t> response;
  put_u16(response, id);
  put_u16(response, nxdomain ? 0x8183 : 0x8180);  // response, RD, RA (+ NXDOMAIN)
  put_u16(response, 1);
  put_u16(response, static_cast<std::uint32_t>(answers));
  put_u16(response, 0);
  put_u16(response, 0);
  put_bytes(response, query.data() + question_at, query.size() - question_at);
  for (int a = 0; a < answers; ++a) {
    put_u16(response, 0xc000 | 12);  // pointer to the question name
    put_u16(response, qtype);
    put_u16(response, 1);
    put_u32(response, static_cast<std::uint32_t>(rng.integer(30, 86400)));
    const auto address = random_bytes(rng, ipv6 ? 16 : 4);
    put_u16(response, static_cast<std::uint32_t>(address.size()));
    put_bytes(response, address.data(), address.size());
  }
  // A resolver answers from cache in well under a millisecond, or recurses for tens of ms.
  udp.send(false, response, rng.bernoulli(0.6) ? rng.lognormal(0.0003, 0.5) : rng.lognormal(0.03, 1.0));
}

}  // namespace trafficfm::datasets::synth
