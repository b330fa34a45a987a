#include "models/common/sample_random.h"

#include "core/rng.h"

namespace trafficfm::models {

std::vector<std::uint64_t> sample_keys(std::uint64_t seed, std::uint64_t epoch,
                                       const std::vector<std::uint64_t>& sample_index) {
  const std::uint64_t epoch_seed = core::derive_seed(seed, 0xe90c0000ULL + epoch);
  std::vector<std::uint64_t> keys;
  keys.reserve(sample_index.size());
  for (std::uint64_t index : sample_index) keys.push_back(core::derive_seed(epoch_seed, index));
  return keys;
}

namespace {
// splitmix64's constants as the int64 values with the same bits (tensors have no uint64).
constexpr std::int64_t as_signed(std::uint64_t v) { return static_cast<std::int64_t>(v); }
constexpr std::int64_t kGamma = as_signed(0x9e3779b97f4a7c15ULL);
constexpr std::int64_t kMix1 = as_signed(0xbf58476d1ce4e5b9ULL);
constexpr std::int64_t kMix2 = as_signed(0x94d049bb133111ebULL);

// Logical right shift of int64 bits (torch's >> on int64 shifts the sign in).
torch::Tensor shift_right(const torch::Tensor& z, int s) {
  return z.__rshift__(s).bitwise_and(as_signed((~0ULL) >> s));
}
}  // namespace

torch::Tensor per_sample_uniform(const std::vector<std::uint64_t>& keys, std::int64_t n, std::uint64_t stream,
                                 torch::Device device) {
  std::vector<std::int64_t> seeds(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) seeds[i] = as_signed(core::derive_seed(keys[i], stream));
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  const auto base = torch::tensor(seeds, i64).view({-1, 1}).to(device, /*non_blocking=*/true);
  const auto counter = torch::arange(1, n + 1, i64.device(device)).view({1, -1});
  // splitmix64: state += gamma per output, then the output mix. int64 products wrap like uint64.
  auto z = base + counter * kGamma;
  z = z.bitwise_xor(shift_right(z, 30)) * kMix1;
  z = z.bitwise_xor(shift_right(z, 27)) * kMix2;
  z = z.bitwise_xor(shift_right(z, 31));
  return shift_right(z, 40).to(torch::kFloat) * (1.0f / 16777216.0f);  // the top 24 bits
}

float sample_uniform_at(std::uint64_t key, std::uint64_t stream, std::int64_t j) {
  std::uint64_t state =
      core::derive_seed(key, stream) + static_cast<std::uint64_t>(j) * 0x9e3779b97f4a7c15ULL;
  return static_cast<float>(core::splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

namespace {
// [batch, branches]: each 0 with probability p, else 1 / (1 - p); undefined when p == 0.
torch::Tensor drop_path_scales(const std::vector<std::uint64_t>& keys, double p, std::uint64_t stream,
                               std::int64_t branches, torch::Device device) {
  if (p <= 0) return {};
  const auto u = per_sample_uniform(keys, branches, stream, device);
  return (u >= p).to(torch::kFloat) / (1.0 - p);
}
}  // namespace

std::vector<torch::Tensor> block_drop_path_scales(const std::vector<std::uint64_t>& keys, std::int64_t depth,
                                                  double max_rate, std::uint64_t stream,
                                                  torch::Device device) {
  std::vector<torch::Tensor> keep;
  if (max_rate <= 0) return keep;
  for (std::int64_t b = 0; b < depth; ++b) {
    const double rate =
        depth > 1 ? max_rate * static_cast<double>(b) / static_cast<double>(depth - 1) : max_rate;
    keep.push_back(drop_path_scales(keys, rate, stream + static_cast<std::uint64_t>(b), 2, device));
  }
  return keep;
}

}  // namespace trafficfm::models
