// What the generation report compares: header fields decoded from a packet's header tokens,
// and distances between field distributions.
//  - header_bytes: the lens vocabulary's header tokens are overlapping byte bigrams (ET-BERT's),
//    so n tokens spell n + 1 bytes; decoding stops at the first token that is not a bigram.
//  - header_fields: ip_total_length and ttl (IPv4; IPv6: 40 + payload length, hop limit), and
//    for TCP tcp_flags and tcp_window, each only when its bytes are there (a packet's token
//    budget may cut the header short). Direction is not derivable: prep anonymizes addresses
//    and ports.
//  - jensen_shannon (base 2, in [0, 1]) and total_variation (in [0, 1]) of two histograms.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trafficfm::models {

std::vector<std::uint8_t> header_bytes(const std::vector<std::int32_t>& tokens);
std::map<std::string, std::int64_t> header_fields(const std::vector<std::uint8_t>& bytes);
const std::vector<std::string>& header_field_names();

using Histogram = std::map<std::int64_t, double>;  // value -> count
double jensen_shannon(const Histogram& p, const Histogram& q);
double total_variation(const Histogram& p, const Histogram& q);

}  // namespace trafficfm::models
