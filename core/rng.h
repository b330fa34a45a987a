// Deterministic random numbers that are the same on every platform and standard library
// (std::*_distribution results are implementation-defined). Streams are derived from a
// (seed, stream id) pair with SplitMix64, so each rank, worker and generated flow draws from
// its own independent stream and results never depend on scheduling order.
#pragma once
#include <cmath>
#include <cstdint>

namespace trafficfm::core {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Mixes a seed and a stream id into one well-spread 64-bit value.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t s = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  splitmix64(s);
  return splitmix64(s);
}

// xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
class Rng {
 public:
  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) {
    std::uint64_t s = derive_seed(seed, stream);
    for (auto& word : state_) word = splitmix64(s);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive); Lemire's multiply-shift, bias < 2^-64 * range.
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {
    const unsigned __int128 range = static_cast<unsigned __int128>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>((static_cast<unsigned __int128>(next()) * range) >> 64);
  }
  bool bernoulli(double p) { return uniform() < p; }
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  double normal(double mean, double stddev) {
    // Box-Muller; one value per call keeps the stream position simple to reason about.
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // exp(N(log(median), sigma)): heavy-ish tails, as real sizes and think times have.
  double lognormal(double median, double sigma) { return median * std::exp(normal(0.0, sigma)); }

  // The full state, for checkpoints.
  const std::uint64_t* state() const { return state_; }
  void set_state(const std::uint64_t (&words)[4]) {
    for (int i = 0; i < 4; ++i) state_[i] = words[i];
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

}  // namespace trafficfm::core
