#include <algorithm>
#include <cmath>

#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {

std::vector<std::uint8_t> random_bytes(core::Rng& rng, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t word = rng.next();
    for (int b = 0; b < 8; ++b) out[i + b] = static_cast<std::uint8_t>(word >> (8 * b));
  }
  if (i < n) {
    const std::uint64_t word = rng.next();
    for (int b = 0; i < n; ++i, ++b) out[i] = static_cast<std::uint8_t>(word >> (8 * b));
  }
  return out;
}

std::string random_domain(core::Rng& rng) {
  static const char* const kPrefixes[] = {"www",  "api",  "cdn",    "static", "img",    "login",
                                          "mail", "edge", "update", "media",  "assets", "m"};
  static const char* const kSyllables[] = {"lu",  "men", "fi",  "eld", "bright", "wa",  "ve",  "no",
                                           "va",  "kar", "ta",  "zen", "po",     "rix", "dal", "sun",
                                           "tor", "vi",  "quo", "lin", "mar",    "eco", "sky", "ion"};
  static const char* const kTlds[] = {"com", "net", "org", "io", "de", "co.uk", "app", "cloud"};
  std::string name = kPrefixes[rng.integer(0, 11)];
  if (rng.bernoulli(0.3)) name += std::to_string(rng.integer(1, 9));
  name += '.';
  const int syllables = static_cast<int>(rng.integer(2, 4));
  for (int i = 0; i < syllables; ++i) name += kSyllables[rng.integer(0, 23)];
  name += '.';
  name += kTlds[rng.integer(0, 7)];
  return name;
}

std::size_t random_size(core::Rng& rng, double median, double sigma, std::size_t lo, std::size_t hi) {
  const double value = std::round(rng.lognormal(median, sigma));
  return static_cast<std::size_t>(std::clamp(value, static_cast<double>(lo), static_cast<double>(hi)));
}

}  // namespace trafficfm::datasets::synth
