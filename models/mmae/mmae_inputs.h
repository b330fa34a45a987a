// A corpus batch of the `mmae` encoding as MMAE's input tensors: the payload scaled to [-1, 1]
// (x/255 - 0.5)/0.5 as in YaTC and MMAE; per-token packet signals (the length and time of the
// packet each token lies in; lengths /1500, times log1p(ms)/10); the 27 flow statistics
// compressed by sign(x)·log1p(|x|) (they span many orders of magnitude); labels; and each
// sample's random-number key.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "datasets/loader/loader.h"

namespace trafficfm::models {

struct MmaeInputs {
  torch::Tensor payload;  // [B, 1600] float
  torch::Tensor signals;  // [B, 400, 2] float: packet length, packet time
  torch::Tensor stats;    // [B, 27] float
  torch::Tensor labels;   // [B] long (-1 where the corpus has no label)
  std::vector<std::uint64_t> keys;
  std::int64_t rows() const { return payload.size(0); }
};

// `token_packet`: [400] long, the packet of each token (models/mmae/mmae_net.h).
MmaeInputs mmae_inputs(const datasets::Batch& batch, const torch::Tensor& token_packet, std::uint64_t seed,
                       const torch::Device& device);

// Corpus columns MMAE reads.
std::vector<std::string> mmae_columns();

}  // namespace trafficfm::models
