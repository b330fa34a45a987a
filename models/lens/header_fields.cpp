#include "models/lens/header_fields.h"

#include <cmath>

#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

std::vector<std::uint8_t> header_bytes(const std::vector<std::int32_t>& tokens) {
  std::vector<std::uint8_t> bytes;
  for (const std::int32_t id : tokens) {
    if (id < vocab::kFirstBigram || id >= vocab::kFirstBigram + vocab::kBigrams) break;
    const std::int32_t pair = id - vocab::kFirstBigram;
    if (bytes.empty()) bytes.push_back(static_cast<std::uint8_t>(pair >> 8));
    bytes.push_back(static_cast<std::uint8_t>(pair & 0xff));
  }
  return bytes;
}

const std::vector<std::string>& header_field_names() {
  static const std::vector<std::string> names = {"ip_total_length", "ttl", "tcp_flags", "tcp_window"};
  return names;
}

std::map<std::string, std::int64_t> header_fields(const std::vector<std::uint8_t>& b) {
  std::map<std::string, std::int64_t> out;
  if (b.empty()) return out;
  const int version = b[0] >> 4;
  std::size_t transport = 0;
  int protocol = -1;
  if (version == 4 && b.size() >= 20) {
    transport = static_cast<std::size_t>(b[0] & 0x0f) * 4;
    out["ip_total_length"] = (b[2] << 8) | b[3];
    out["ttl"] = b[8];
    protocol = b[9];
  } else if (version == 6 && b.size() >= 40) {
    transport = 40;
    out["ip_total_length"] = 40 + ((b[4] << 8) | b[5]);
    out["ttl"] = b[7];
    protocol = b[6];
  }
  if (protocol == 6 && transport >= 20 && b.size() >= transport + 16) {
    out["tcp_flags"] = b[transport + 13];
    out["tcp_window"] = (b[transport + 14] << 8) | b[transport + 15];
  }
  return out;
}

namespace {
double total(const Histogram& h) {
  double sum = 0;
  for (const auto& [value, count] : h) sum += count;
  return sum;
}
}  // namespace

double jensen_shannon(const Histogram& p, const Histogram& q) {
  const double tp = total(p), tq = total(q);
  if (tp <= 0 || tq <= 0) return NAN;
  Histogram keys = p;
  for (const auto& [value, count] : q) keys[value] += 0;
  double js = 0;
  for (const auto& [value, unused] : keys) {
    const double a = p.count(value) ? p.at(value) / tp : 0.0, b = q.count(value) ? q.at(value) / tq : 0.0;
    const double m = (a + b) / 2;
    if (a > 0) js += 0.5 * a * std::log2(a / m);
    if (b > 0) js += 0.5 * b * std::log2(b / m);
  }
  return js;
}

double total_variation(const Histogram& p, const Histogram& q) {
  const double tp = total(p), tq = total(q);
  if (tp <= 0 || tq <= 0) return NAN;
  Histogram keys = p;
  for (const auto& [value, count] : q) keys[value] += 0;
  double tv = 0;
  for (const auto& [value, unused] : keys) {
    const double a = p.count(value) ? p.at(value) / tp : 0.0, b = q.count(value) ? q.at(value) / tq : 0.0;
    tv += std::abs(a - b);
  }
  return tv / 2;
}

}  // namespace trafficfm::models
