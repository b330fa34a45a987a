// Random numbers owned by samples, not by ranks: each sample's numbers come from its own
// generator, seeded from (run seed, epoch, sample index, purpose). A sample then gets the same
// mask and drop-path draws on every tp rank (replicated activations agree) and on whichever
// dp rank it lands, so dp = 2 computes what dp = 1 computes, and resume needs no RNG state.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace trafficfm::models {

// One key per sample of a batch.
std::vector<std::uint64_t> sample_keys(std::uint64_t seed, std::uint64_t epoch, const std::vector<std::uint64_t>& sample_index);
// [keys.size(), n] uniform in [0, 1), float32; `stream` tells purposes apart.
torch::Tensor per_sample_uniform(const std::vector<std::uint64_t>& keys, std::int64_t n, std::uint64_t stream);
// Drop-path scales [batch]: 0 with probability p, else 1 / (1 - p). Undefined when p == 0.
torch::Tensor drop_path_scales(const std::vector<std::uint64_t>& keys, double p, std::uint64_t stream);

}  // namespace trafficfm::models
