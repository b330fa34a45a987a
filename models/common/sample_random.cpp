#include "models/common/sample_random.h"

#include <ATen/CPUGeneratorImpl.h>

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

torch::Tensor per_sample_uniform(const std::vector<std::uint64_t>& keys, std::int64_t n,
                                 std::uint64_t stream) {
  auto out = torch::empty({static_cast<std::int64_t>(keys.size()), n});
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto gen = at::detail::createCPUGenerator(core::derive_seed(keys[i], stream));
    out[static_cast<std::int64_t>(i)].uniform_(0.0, 1.0, gen);
  }
  return out;
}

namespace {
// [batch, branches]: each 0 with probability p, else 1 / (1 - p); undefined when p == 0.
torch::Tensor drop_path_scales(const std::vector<std::uint64_t>& keys, double p, std::uint64_t stream,
                               std::int64_t branches) {
  if (p <= 0) return {};
  const auto u = per_sample_uniform(keys, branches, stream);
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
    auto scales = drop_path_scales(keys, rate, stream + static_cast<std::uint64_t>(b), 2);
    keep.push_back(scales.defined() ? scales.to(device) : scales);
  }
  return keep;
}

}  // namespace trafficfm::models
