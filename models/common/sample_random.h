// Random numbers owned by samples, not by ranks: each sample's numbers come from its own
// stream, seeded from (run seed, epoch, sample index, purpose). A sample then gets the same
// mask and drop-path draws on every tp rank (replicated activations agree) and on whichever
// dp rank it lands, so dp = 2 computes what dp = 1 computes, and resume needs no RNG state.
// The draws are counter-based (number j of a stream is splitmix64's output j + 1 from the
// stream's seed), computed by tensor ops on the device that uses them: one copy of B seeds in,
// no generator state, the same bits on every device.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace trafficfm::models {

// One key per sample of a batch.
std::vector<std::uint64_t> sample_keys(std::uint64_t seed, std::uint64_t epoch,
                                       const std::vector<std::uint64_t>& sample_index);
// [keys.size(), n] uniform in [0, 1) with 24 random bits, float32, on `device`; `stream` tells
// purposes apart.
torch::Tensor per_sample_uniform(const std::vector<std::uint64_t>& keys, std::int64_t n, std::uint64_t stream,
                                 torch::Device device = torch::kCPU);
// Number j (from 0) of that stream computed on the host: the reference of per_sample_uniform.
float sample_uniform_at(std::uint64_t key, std::uint64_t stream, std::int64_t j);
// Stochastic depth of `depth` residual blocks with two branches each (attention, MLP), as timm
// and MMAE's code draw it: rate linear from 0 at the first block to `max_rate` at the last, an
// independent draw per sample, block and branch. One [batch, 2] tensor per block on `device`
// (undefined where the rate is 0); empty when max_rate is 0. Streams stream + block.
std::vector<torch::Tensor> block_drop_path_scales(const std::vector<std::uint64_t>& keys, std::int64_t depth,
                                                  double max_rate, std::uint64_t stream,
                                                  torch::Device device);

}  // namespace trafficfm::models
