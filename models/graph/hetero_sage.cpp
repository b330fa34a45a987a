#include "models/graph/hetero_sage.h"

namespace trafficfm::models {

using datasets::EdgeType;
using datasets::NodeType;

const std::array<Relation, kRelations> kRelationList = {{
    {EdgeType::kIpNext, false},
    {EdgeType::kSrcNext, false},
    {EdgeType::kDstNext, false},
    {EdgeType::kCopy, false},
    {EdgeType::kSends, false},
    {EdgeType::kSends, true},
    {EdgeType::kArrives, false},
    {EdgeType::kArrives, true},
}};

NodeType Relation::source() const {
  return reversed ? datasets::edge_target_type(type) : datasets::edge_source_type(type);
}
NodeType Relation::target() const {
  return reversed ? datasets::edge_source_type(type) : datasets::edge_target_type(type);
}

SageConvImpl::SageConvImpl(std::int64_t source_dims, std::int64_t target_dims, std::int64_t out_dims) {
  lin_l =
      register_module("lin_l", torch::nn::Linear(torch::nn::LinearOptions(source_dims, out_dims).bias(true)));
  lin_r = register_module("lin_r",
                          torch::nn::Linear(torch::nn::LinearOptions(target_dims, out_dims).bias(false)));
}

torch::Tensor SageConvImpl::forward(const torch::Tensor& x_source, const torch::Tensor& x_target,
                                    const torch::Tensor& edges) {
  const auto n = x_target.size(0);
  auto sum = torch::zeros({n, x_source.size(1)}, x_source.options());
  auto count = torch::zeros({n}, x_source.options());
  if (edges.size(1) > 0) {
    const auto src = edges[0], dst = edges[1];
    sum = sum.index_add(0, dst, x_source.index_select(0, src));
    count = count.index_add(0, dst, torch::ones({edges.size(1)}, x_source.options()));
  }
  const auto mean = sum / count.clamp_min(1).unsqueeze(1);
  return torch::nn::functional::normalize(lin_l(mean) + lin_r(x_target),
                                          torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1));
}

HeteroSageImpl::HeteroSageImpl(const GraphConfig& config) : config_(config) {
  log1p_min = register_buffer("log1p_min", torch::zeros({datasets::kFlowStatistics}));
  log1p_max = register_buffer("log1p_max", torch::ones({datasets::kFlowStatistics}));
  if (config.decoder == "distmult")
    link_relation = register_parameter("link_relation", torch::ones({datasets::kEdgeTypes, config.hidden}));
  const std::int64_t flow_in = flow_feature_dims(config.encoding_dims),
                     ip_in = ip_feature_dims(config.encoding_dims);
  for (std::int64_t l = 0; l < config.layers; ++l) {
    auto dims = [&](NodeType t) { return l == 0 ? (t == NodeType::kFlow ? flow_in : ip_in) : config.hidden; };
    std::array<SageConv, kRelations> convs = {nullptr, nullptr, nullptr, nullptr,
                                              nullptr, nullptr, nullptr, nullptr};
    for (int r = 0; r < kRelations; ++r) {
      const auto& rel = kRelationList[r];
      // Module names may not hold dots: layer0_sends_rev.
      const std::string name = "layer" + std::to_string(l) + "_" +
                               datasets::kEdgeTypeNames[static_cast<int>(rel.type)] +
                               (rel.reversed ? "_rev" : "");
      convs[r] = register_module(name, SageConv(dims(rel.source()), dims(rel.target()), config.hidden));
    }
    layers_.push_back(convs);
  }
  // After the layers, so that a seed gives the same encoder with and without them.
  if (config.link_bias)
    link_bias = register_parameter("link_bias", torch::zeros({datasets::kEdgeTypes, 2, config.hidden}));
  if (config.mask > 0)
    mask_decoder =
        register_module("mask_decoder", torch::nn::Linear(config.hidden, datasets::kFlowStatistics));
}

std::pair<torch::Tensor, torch::Tensor> HeteroSageImpl::forward(
    const torch::Tensor& flow_x, const torch::Tensor& ip_x,
    const std::array<torch::Tensor, kEdgeTypes>& edges) {
  torch::Tensor x[2] = {flow_x, ip_x};
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    torch::Tensor out[2];
    for (int r = 0; r < kRelations; ++r) {
      const auto& rel = kRelationList[r];
      auto e = edges[static_cast<int>(rel.type)];
      if (rel.reversed) e = e.flip(0);
      const int s = static_cast<int>(rel.source()), t = static_cast<int>(rel.target());
      const auto y = layers_[l][r]->forward(x[s], x[t], e);
      out[t] = out[t].defined() ? out[t] + y : y;
    }
    for (int t = 0; t < 2; ++t) {
      x[t] = l + 1 < layers_.size() ? torch::leaky_relu(out[t], config_.negative_slope) : out[t];
    }
  }
  return {x[0], x[1]};
}

HeteroSageImpl::FlopRates HeteroSageImpl::flop_rates() const {
  const std::int64_t flow_in = flow_feature_dims(config_.encoding_dims),
                     ip_in = ip_feature_dims(config_.encoding_dims);
  FlopRates rates;
  for (std::int64_t l = 0; l < config_.layers; ++l) {
    auto dims = [&](NodeType t) {
      return static_cast<double>(l == 0 ? (t == NodeType::kFlow ? flow_in : ip_in) : config_.hidden);
    };
    // Layer 0 reads the input features, which need no gradient: its backward computes only the
    // weights' gradients (once its forward), where a later layer's also passes one back (twice).
    const double backward = l == 0 ? 1.0 : 2.0;
    for (const auto& rel : kRelationList) {
      // Per edge: the forward scatter-add of the source's features (and of its count), and in
      // backward the scatter of their gradients back to the sources (from layer 1 on).
      rates.per_edge[static_cast<int>(rel.type)] += (l == 0 ? 1.0 : 2.0) * dims(rel.source()) + 1.0;
      const double linear = (1.0 + backward) * 2.0 * (dims(rel.source()) + dims(rel.target())) *
                            config_.hidden;  // lin_l, lin_r
      (rel.target() == NodeType::kFlow ? rates.per_flow : rates.per_ip) += linear;
    }
  }
  return rates;
}

double HeteroSageImpl::flops(std::int64_t flows, std::int64_t ips,
                             const std::array<std::int64_t, kEdgeTypes>& edges) const {
  const auto rates = flop_rates();
  double total = rates.per_flow * static_cast<double>(flows) + rates.per_ip * static_cast<double>(ips);
  for (int t = 0; t < kEdgeTypes; ++t) total += rates.per_edge[t] * static_cast<double>(edges[t]);
  return total;
}

}  // namespace trafficfm::models
