#include "models/graph/graph_inputs.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "datasets/flow/flow.h"
#include "datasets/graph/graph_encoder.h"

namespace trafficfm::models {

using datasets::kFlowStatistics;

std::int64_t flow_feature_dims(std::int64_t encoding_dims) {
  return 2 * kFlowStatistics + 4 + 1 + encoding_dims;
}
std::int64_t ip_feature_dims(std::int64_t encoding_dims) { return 1 + encoding_dims; }

std::vector<std::string> graph_columns() {
  return {"nodes",      "cost",       "flow_stats", "flow_protocol", "flow_ip_version",
          "flow_order", "flow_label", "flow_split", "flow_halo",     "flow_target",
          "ip_slice",   "ip_halo",    "edges",      "edge_type"};
}

torch::Tensor sinusoidal_encoding(const torch::Tensor& positions, std::int64_t dims) {
  const auto p = positions.to(torch::kFloat32).unsqueeze(1);
  const auto i = torch::arange(dims / 2, torch::kFloat32);
  const auto rate = torch::exp(i * (-2.0 * std::log(10000.0) / static_cast<double>(dims)));
  const auto angle = p * rate.unsqueeze(0);
  return torch::stack({torch::sin(angle), torch::cos(angle)}, 2).reshape({positions.size(0), dims});
}

namespace {

template <typename T>
torch::Tensor column_tensor(const datasets::Batch& batch, const std::string& name, torch::ScalarType type,
                            std::vector<std::int64_t> shape) {
  const auto& data = batch.data[batch.column_index(name)];
  return torch::from_blob(const_cast<std::uint8_t*>(data.data()), shape, type).clone();
}

}  // namespace

GraphInputs collate_graphs(const datasets::Batch& batch, const torch::Tensor& log1p_min,
                           const torch::Tensor& log1p_max, std::int64_t encoding_dims, torch::Device device) {
  GraphInputs in;
  in.rows = static_cast<std::int64_t>(batch.rows);
  const auto& flow_offsets = batch.offsets_of("flow_stats");
  const auto& ip_offsets = batch.offsets_of("ip_slice");
  const auto& edge_offsets = batch.offsets_of("edges");
  const auto flows = static_cast<std::int64_t>(flow_offsets.back());
  const auto ips = static_cast<std::int64_t>(ip_offsets.back());
  const auto edges = static_cast<std::int64_t>(edge_offsets.back());
  in.flow_begin.assign(flow_offsets.begin(), flow_offsets.end());
  in.ip_begin.assign(ip_offsets.begin(), ip_offsets.end());

  // Flow features.
  auto stats = column_tensor<float>(batch, "flow_stats", torch::kFloat32, {flows, kFlowStatistics});
  const auto missing = torch::isnan(stats);
  auto x = torch::log1p(torch::clamp_min(torch::where(missing, torch::zeros_like(stats), stats), 0.0));
  const auto range = log1p_max.cpu() - log1p_min.cpu();
  auto scaled =
      ((x - log1p_min.cpu()) / torch::where(range > 0, range, torch::ones_like(range))).clamp(0.0, 1.0);
  scaled = torch::where(range.unsqueeze(0) > 0, scaled, torch::zeros_like(scaled));
  const auto protocol =
      column_tensor<std::uint8_t>(batch, "flow_protocol", torch::kUInt8, {flows}).to(torch::kInt64);
  const auto version = column_tensor<std::uint8_t>(batch, "flow_ip_version", torch::kUInt8, {flows});
  const auto order = column_tensor<std::int32_t>(batch, "flow_order", torch::kInt32, {flows});
  auto protocol_class = torch::full({flows}, 3, torch::kInt64);
  protocol_class.masked_fill_(protocol == 6, 0);
  protocol_class.masked_fill_(protocol == 17, 1);
  protocol_class.masked_fill_((protocol == 1).logical_or(protocol == 58), 2);
  in.flow_x =
      torch::cat({scaled, missing.to(torch::kFloat32), torch::one_hot(protocol_class, 4).to(torch::kFloat32),
                  (version == 6).to(torch::kFloat32).unsqueeze(1), sinusoidal_encoding(order, encoding_dims)},
                 1)
          .to(device);
  const auto ip_slice = column_tensor<std::uint8_t>(batch, "ip_slice", torch::kUInt8, {ips});
  in.ip_x = torch::cat({torch::ones({ips, 1}), sinusoidal_encoding(ip_slice, encoding_dims)}, 1).to(device);
  in.flow_own = (column_tensor<std::uint8_t>(batch, "flow_halo", torch::kUInt8, {flows}) == 0).to(device);
  in.flow_target = (column_tensor<std::uint8_t>(batch, "flow_target", torch::kUInt8, {flows}) != 0)
                       .logical_and(in.flow_own);
  in.ip_own = (column_tensor<std::uint8_t>(batch, "ip_halo", torch::kUInt8, {ips}) == 0).to(device);
  in.flow_label =
      column_tensor<std::int32_t>(batch, "flow_label", torch::kInt32, {flows}).to(torch::kInt64).to(device);
  in.flow_split =
      column_tensor<std::int8_t>(batch, "flow_split", torch::kInt8, {flows}).to(torch::kInt64).to(device);

  // Edges: per type, shifted by each sample's first node of the endpoint's type.
  const auto* ends = batch.column<std::int32_t>("edges");
  const auto* types = batch.column<std::uint8_t>("edge_type");
  std::array<std::vector<std::int64_t>, kEdgeTypes> source, target;
  for (int t = 0; t < kEdgeTypes; ++t) in.edge_begin[t].push_back(0);
  for (std::int64_t r = 0; r < in.rows; ++r) {
    for (std::uint64_t e = edge_offsets[r]; e < edge_offsets[r + 1]; ++e) {
      const int t = types[e];
      if (t >= kEdgeTypes) {
        throw std::runtime_error("graph batch: edge type " + std::to_string(t) +
                                 " unknown (corrupt corpus?)");
      }
      const auto type = static_cast<datasets::EdgeType>(t);
      auto endpoint = [&](std::int32_t local, datasets::NodeType node_type) {
        const auto& begin = node_type == datasets::NodeType::kFlow ? in.flow_begin : in.ip_begin;
        if (local < 0 || begin[r] + local >= begin[r + 1]) {
          throw std::runtime_error("graph batch: sample " + std::to_string(batch.sample_index[r]) +
                                   " has an edge to node " + std::to_string(local) +
                                   " beyond its nodes (corrupt corpus?)");
        }
        return begin[r] + local;
      };
      source[t].push_back(endpoint(ends[2 * e], datasets::edge_source_type(type)));
      target[t].push_back(endpoint(ends[2 * e + 1], datasets::edge_target_type(type)));
    }
    for (int t = 0; t < kEdgeTypes; ++t)
      in.edge_begin[t].push_back(static_cast<std::int64_t>(source[t].size()));
  }
  for (int t = 0; t < kEdgeTypes; ++t) {
    const auto n = static_cast<std::int64_t>(source[t].size());
    in.edges[t] =
        torch::stack({torch::tensor(source[t], torch::kInt64), torch::tensor(target[t], torch::kInt64)})
            .reshape({2, n})
            .to(device);
  }
  (void)edges;
  return in;
}

}  // namespace trafficfm::models
