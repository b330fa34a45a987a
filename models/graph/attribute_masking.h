// Attribute masking (Hu et al. 2020), the graph model's optional second pretraining objective
// beside link prediction (--graph.mask): a share of the own flow nodes have their features
// hidden, and the task reconstructs their statistics from the final embeddings (graph_task.cpp).
// Draws are per sample (models/common/sample_random.h's keys): the same on every dp rank.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/graph/graph_inputs.h"

namespace trafficfm::models {

// The draw: each own (non-halo) flow node with probability `fraction`, from its sample's key.
// bool [F] on the inputs' device.
torch::Tensor draw_masked_flows(const GraphInputs& in, double fraction,
                                const std::vector<std::uint64_t>& keys);
// The features with the masked rows hidden: every statistic 0 and marked missing, no protocol,
// no IPv6 bit (a flow whose statistics are all unknown); the sinusoidal order encoding stays.
torch::Tensor mask_flow_features(const torch::Tensor& flow_x, const torch::Tensor& masked);

}  // namespace trafficfm::models
