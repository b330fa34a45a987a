// Link prediction's targets for one batch: per edge type, a share of the edges between two own
// (non-halo) nodes is held out as positives and removed from message passing; each positive
// gets one negative with the same source and a target of the same type drawn inside the same
// sample, never an existing edge of that type (held out or not). The model therefore cannot
// see a supervision edge (PPT-GNN passes messages over its label edges, negatives included).
// Draws are per sample (models/common/sample_random.h's keys): the same on every dp rank.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

#include "models/graph/graph_inputs.h"

namespace trafficfm::models {

struct LinkTargets {
  std::array<torch::Tensor, kEdgeTypes> message;   // [2, *] edges kept for message passing
  std::array<torch::Tensor, kEdgeTypes> positive;  // [2, *] held-out edges
  std::array<torch::Tensor, kEdgeTypes> negative;  // [2, *] non-edges
};

// `keys`: one per sample of the batch.
LinkTargets draw_link_targets(const GraphInputs& in, double fraction, const std::vector<std::uint64_t>& keys);

}  // namespace trafficfm::models
