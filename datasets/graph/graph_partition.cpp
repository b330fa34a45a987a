#include "datasets/graph/graph_partition.h"

#include <metis.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

namespace trafficfm::datasets {
namespace {

std::uint32_t global_id(const FlowGraph& g, NodeType type, std::uint32_t index) {
  return type == NodeType::kFlow ? index : static_cast<std::uint32_t>(g.flows.size()) + index;
}

bool spatial(EdgeType type) { return type == EdgeType::kSends || type == EdgeType::kArrives; }

}  // namespace

std::vector<std::int32_t> metis_parts(const FlowGraph& g, int parts, std::uint64_t seed,
                                      PartitionStats* stats) {
  const auto started = std::chrono::steady_clock::now();
  const std::size_t n = g.nodes();
  std::vector<std::int32_t> part(n, 0);
  if (parts <= 1 || n == 0) return part;
  std::vector<std::vector<idx_t>> adjacency(n);
  for (const auto& e : g.edges) {
    const auto a = global_id(g, edge_source_type(e.type), e.source);
    const auto b = global_id(g, edge_target_type(e.type), e.target);
    if (a == b) continue;
    adjacency[a].push_back(static_cast<idx_t>(b));
    adjacency[b].push_back(static_cast<idx_t>(a));
  }
  std::vector<idx_t> xadj = {0}, adjncy;
  for (auto& list : adjacency) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    adjncy.insert(adjncy.end(), list.begin(), list.end());
    xadj.push_back(static_cast<idx_t>(adjncy.size()));
  }
  if (adjncy.empty()) {  // METIS needs edges: contiguous runs of nodes instead
    for (std::size_t i = 0; i < n; ++i) part[i] = static_cast<std::int32_t>(i * parts / n);
    return part;
  }
  idx_t vertices = static_cast<idx_t>(n), constraints = 1, k = parts, cut = 0;
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = static_cast<idx_t>(seed & 0x7fffffff);
  options[METIS_OPTION_NUMBERING] = 0;
  std::vector<idx_t> result(n);
  const int status =
      METIS_PartGraphKway(&vertices, &constraints, xadj.data(), adjncy.data(), nullptr, nullptr, nullptr, &k,
                          nullptr, nullptr, options, &cut, result.data());
  if (status != METIS_OK)
    throw std::runtime_error("METIS_PartGraphKway failed with status " + std::to_string(status));
  for (std::size_t i = 0; i < n; ++i) part[i] = static_cast<std::int32_t>(result[i]);
  if (stats) {
    stats->edge_cut = cut;
    stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return part;
}

std::vector<FlowGraph> partition_flow_graph(const FlowGraph& g, const std::vector<std::int32_t>& part_of,
                                            int parts, int layers) {
  const std::size_t n = g.nodes();
  if (part_of.size() != n) throw std::invalid_argument("partition: one part per node expected");
  // Message sources of each node (global ids).
  std::vector<std::vector<std::uint32_t>> sources(n);
  for (const auto& e : g.edges) {
    const auto a = global_id(g, edge_source_type(e.type), e.source);
    const auto b = global_id(g, edge_target_type(e.type), e.target);
    sources[b].push_back(a);
    if (spatial(e.type)) sources[a].push_back(b);
  }
  std::vector<FlowGraph> out;
  const auto flows = static_cast<std::uint32_t>(g.flows.size());
  for (int p = 0; p < parts; ++p) {
    // 0: own, 1..layers: halo at that distance, -1: not in the part.
    std::vector<int> hops(n, -1);
    std::vector<std::uint32_t> frontier;
    for (std::uint32_t v = 0; v < n; ++v) {
      if (part_of[v] == p) hops[v] = 0, frontier.push_back(v);
    }
    if (frontier.empty()) continue;
    for (int hop = 1; hop <= layers; ++hop) {
      std::vector<std::uint32_t> next;
      for (auto v : frontier) {
        for (auto u : sources[v]) {
          if (hops[u] < 0) hops[u] = hop, next.push_back(u);
        }
      }
      frontier = std::move(next);
    }
    FlowGraph part;
    part.first_slice = g.first_slice;
    part.part = static_cast<std::uint32_t>(out.size());
    std::vector<std::uint32_t> local(n, UINT32_MAX);
    for (std::uint32_t v = 0; v < n; ++v) {
      if (hops[v] < 0) continue;
      if (v < flows) {
        local[v] = static_cast<std::uint32_t>(part.flows.size());
        part.flows.push_back(g.flows[v]);
        part.flows.back().halo = hops[v] > 0;
      } else {
        local[v] = static_cast<std::uint32_t>(part.ips.size());
        part.ips.push_back(g.ips[v - flows]);
        part.ips.back().halo = hops[v] > 0;
      }
    }
    for (const auto& e : g.edges) {
      const auto a = global_id(g, edge_source_type(e.type), e.source);
      const auto b = global_id(g, edge_target_type(e.type), e.target);
      if (local[a] != UINT32_MAX && local[b] != UINT32_MAX)
        part.edges.push_back({e.type, local[a], local[b]});
    }
    out.push_back(std::move(part));
  }
  for (auto& part : out) part.parts = static_cast<std::uint32_t>(out.size());
  return out;
}

}  // namespace trafficfm::datasets
