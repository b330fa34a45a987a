// A batch of graph samples as one block-diagonal graph in tensors: node features (scaled flow
// statistics, missing bits, protocol one-hot, IP version, sinusoidal encodings), one edge index
// per edge type, and which nodes are a part's own (not halo). Node and edge ranges of each
// sample are kept, so link prediction can draw negatives inside a sample.
#pragma once
#include <torch/torch.h>

#include <array>
#include <vector>

#include "datasets/graph/flow_graph.h"
#include "datasets/loader/loader.h"

namespace trafficfm::models {

constexpr int kEdgeTypes = datasets::kEdgeTypes;

struct GraphInputs {
  torch::Tensor flow_x, ip_x;                      // [F, flow_features], [I, ip_features]
  std::array<torch::Tensor, kEdgeTypes> edges;     // int64 [2, E_t]: source, target (per-type node ids)
  torch::Tensor flow_own, ip_own;                  // bool [F], [I]: not a halo node
  torch::Tensor flow_target;                       // bool [F]: the flow's own last copy (classified)
  torch::Tensor flow_label, flow_split;            // int64 [F]
  std::vector<std::int64_t> flow_begin, ip_begin;  // per sample: first node, and the total last
  std::array<std::vector<std::int64_t>, kEdgeTypes> edge_begin;  // per sample and type: first edge
  std::int64_t rows = 0;
};

std::int64_t flow_feature_dims(std::int64_t encoding_dims);  // 39 + 39 + 4 + 1 + encoding
std::int64_t ip_feature_dims(std::int64_t encoding_dims);    // 1 + encoding

// The corpus columns the graph model reads.
std::vector<std::string> graph_columns();

// Statistics are scaled as x -> clip((log1p(max(x, 0)) - min) / (max - min), 0, 1) with the
// train split's ranges `log1p_min`/`log1p_max` [39] (0 where max == min); NaN -> 0 plus a
// missing bit. Throws std::runtime_error on an edge that leaves its sample's nodes.
GraphInputs collate_graphs(const datasets::Batch& batch, const torch::Tensor& log1p_min,
                           const torch::Tensor& log1p_max, std::int64_t encoding_dims, torch::Device device);

// [n, dims] sinusoidal encoding of positions (Transformer's: sin at even, cos at odd columns).
torch::Tensor sinusoidal_encoding(const torch::Tensor& positions, std::int64_t dims);

}  // namespace trafficfm::models
