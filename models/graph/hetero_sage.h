// Heterogeneous GraphSAGE (PPT-GNN's encoder): per layer one SAGE convolution per relation
// (mean aggregation of the sources, plus a root weight on the target, output L2-normalized),
// summed over the relations into each node type, leaky ReLU between layers. Relations: the
// temporal edge types forward (ip_next, src_next, dst_next, copy), then the spatial ones in
// both directions (sends, arrives and their reverses). Message passing is index_select +
// index_add over edge index tensors; no per-edge loop.
#pragma once
#include <torch/torch.h>

#include <array>
#include <utility>

#include "models/graph/graph_config.h"
#include "models/graph/graph_inputs.h"

namespace trafficfm::models {

// One relation: an edge type read forward or reversed.
struct Relation {
  datasets::EdgeType type;
  bool reversed;
  datasets::NodeType source() const;  // of the message
  datasets::NodeType target() const;
};
constexpr int kRelations = 8;
extern const std::array<Relation, kRelations> kRelationList;

// SAGEConv(aggr=mean, root_weight, normalize): normalize(lin_l(mean_{j->i} x_j) + lin_r(x_i)).
class SageConvImpl : public torch::nn::Module {
 public:
  SageConvImpl(std::int64_t source_dims, std::int64_t target_dims, std::int64_t out_dims);
  // `edges` [2, E]: row 0 sources (into x_source), row 1 targets (into x_target).
  torch::Tensor forward(const torch::Tensor& x_source, const torch::Tensor& x_target,
                        const torch::Tensor& edges);
  torch::nn::Linear lin_l{nullptr}, lin_r{nullptr};
};
TORCH_MODULE(SageConv);

class HeteroSageImpl : public torch::nn::Module {
 public:
  explicit HeteroSageImpl(const GraphConfig& config);
  // Node embeddings (flow, ip) after the last layer, given the edges to pass messages over.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& flow_x, const torch::Tensor& ip_x,
                                                  const std::array<torch::Tensor, kEdgeTypes>& edges);
  const GraphConfig& config() const { return config_; }
  // The train split's statistic ranges (log1p), from the corpus at pretraining; buffers, so a
  // checkpoint carries them and fine-tuning scales features as pretraining did.
  torch::Tensor log1p_min, log1p_max;
  // With --graph.decoder distmult: [edge types, hidden], link prediction's relation vectors
  // (pretraining only; undefined with the dot decoder).
  torch::Tensor link_relation;
  // With --graph.link-bias: [edge types, 2 (source, target), hidden], the decoder's linear term
  // per endpoint (pretraining only; undefined otherwise).
  torch::Tensor link_bias;
  // With --graph.mask > 0: Linear(hidden, 39) + sigmoid, the masked flows' scaled statistics from
  // their final embeddings (pretraining only; empty otherwise).
  torch::nn::Linear mask_decoder{nullptr};
  // Training FLOPs (forward + backward) are linear in a graph's counts: per edge of each type
  // (the scatter-adds of messages over the layers and relations reading it), per flow node and
  // per ip node (the linear maps of the relations targeting it). Layer 0 reads the features,
  // which need no gradient: its backward is half a later layer's. Equal to the products and
  // scatter-adds one step executes (tests/unit/flop_count_test.cpp).
  struct FlopRates {
    std::array<double, kEdgeTypes> per_edge{};
    double per_flow = 0, per_ip = 0;
  };
  FlopRates flop_rates() const;
  double flops(std::int64_t flows, std::int64_t ips, const std::array<std::int64_t, kEdgeTypes>& edges) const;

 private:
  GraphConfig config_;
  std::vector<std::array<SageConv, kRelations>> layers_;
};
TORCH_MODULE(HeteroSage);

}  // namespace trafficfm::models
