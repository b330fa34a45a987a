#include "datasets/graph/flow_graph.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace trafficfm::datasets {

const std::array<const char*, kEdgeTypes> kEdgeTypeNames = {"sends",    "arrives",  "ip_next",
                                                            "src_next", "dst_next", "copy"};

NodeType edge_source_type(EdgeType type) {
  return type == EdgeType::kSends || type == EdgeType::kIpNext ? NodeType::kIp : NodeType::kFlow;
}
NodeType edge_target_type(EdgeType type) {
  return type == EdgeType::kArrives || type == EdgeType::kIpNext ? NodeType::kIp : NodeType::kFlow;
}

namespace {

// Each flow to the next `neighbors` flows of its group (flow node indices in slice order).
void chain(const std::vector<std::uint32_t>& group, int neighbors, EdgeType type,
           std::vector<GraphEdge>& out) {
  for (std::size_t i = 0; i < group.size(); ++i) {
    for (std::size_t j = i + 1; j < group.size() && j <= i + static_cast<std::size_t>(neighbors); ++j) {
      out.push_back({type, group[i], group[j]});
    }
  }
}

FlowGraph build_one(const std::vector<GraphFlow>& flows, const std::vector<int>& host_of_src,
                    const std::vector<int>& host_of_dst, const std::vector<std::uint32_t>& last_slice,
                    std::vector<std::pair<std::uint32_t, std::uint32_t>> copies, std::uint32_t first_slice,
                    const GraphOptions& options) {
  // Slice order, then start time, then the flow's index: deterministic whatever the input order.
  std::sort(copies.begin(), copies.end(), [&](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second < b.second;
    const double sa = flows[a.first].record.start_s, sb = flows[b.first].record.start_s;
    if (sa != sb) return sa < sb;
    return a.first < b.first;
  });
  FlowGraph g;
  g.first_slice = first_slice;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> node_of;  // (flow, slice) -> node
  std::map<std::pair<int, std::uint32_t>, std::uint32_t> ip_of;              // (host, slice) -> ip node
  auto ip_node = [&](int host, std::uint32_t slice) {
    const auto [it, fresh] =
        ip_of.emplace(std::make_pair(host, slice), static_cast<std::uint32_t>(g.ips.size()));
    if (fresh)
      g.ips.push_back(
          {static_cast<std::uint8_t>(slice - first_slice), false, static_cast<std::uint32_t>(host)});
    return it->second;
  };
  std::int32_t order = 0;
  std::uint32_t slice_of_order = UINT32_MAX;
  std::map<std::pair<std::uint32_t, int>, std::vector<std::uint32_t>> by_src,
      by_dst;  // (slice, host) -> nodes
  for (const auto& [flow, slice] : copies) {
    if (slice != slice_of_order) order = 0, slice_of_order = slice;
    const auto node = static_cast<std::uint32_t>(g.flows.size());
    g.flows.push_back(
        {flow, static_cast<std::uint8_t>(slice - first_slice), order++, false, slice == last_slice[flow]});
    node_of[{flow, slice}] = node;
    g.edges.push_back({EdgeType::kSends, ip_node(host_of_src[flow], slice), node});
    g.edges.push_back({EdgeType::kArrives, node, ip_node(host_of_dst[flow], slice)});
    by_src[{slice, host_of_src[flow]}].push_back(node);
    by_dst[{slice, host_of_dst[flow]}].push_back(node);
  }
  for (const auto& [key, ip] : ip_of) {
    const auto next = ip_of.find({key.first, key.second + 1});
    if (next != ip_of.end()) g.edges.push_back({EdgeType::kIpNext, ip, next->second});
  }
  for (const auto& [key, group] : by_src) chain(group, options.neighbors, EdgeType::kSrcNext, g.edges);
  for (const auto& [key, group] : by_dst) chain(group, options.neighbors, EdgeType::kDstNext, g.edges);
  for (const auto& [key, node] : node_of) {
    const auto next = node_of.find({key.first, key.second + 1});
    if (next != node_of.end()) g.edges.push_back({EdgeType::kCopy, node, next->second});
  }
  std::stable_sort(g.edges.begin(), g.edges.end(),
                   [](const GraphEdge& a, const GraphEdge& b) { return a.type < b.type; });
  return g;
}

}  // namespace

std::vector<FlowGraph> build_flow_graphs(const std::vector<GraphFlow>& flows, const GraphOptions& options) {
  std::vector<FlowGraph> graphs;
  if (flows.empty()) return graphs;
  if (!(options.window_s > 0) || options.slices < 1 || options.slices > 255 || options.neighbors < 0) {
    throw std::invalid_argument("graph: window must be > 0 s, slices in [1, 255], neighbors >= 0");
  }
  double t0 = flows[0].record.start_s;
  for (const auto& f : flows) t0 = std::min(t0, f.record.start_s);
  // Slice numbers stay far below 2^32 / slices, however far apart a log's times are.
  constexpr double kMaxSlice = 1e9;
  std::size_t skipped = 0;
  std::map<IpAddress, int> hosts;
  std::vector<int> src(flows.size()), dst(flows.size());
  std::vector<std::uint32_t> last_slice(flows.size(), 0);
  std::map<std::uint32_t, std::vector<std::pair<std::uint32_t, std::uint32_t>>> per_graph;  // graph -> copies
  for (std::size_t i = 0; i < flows.size(); ++i) {
    const auto& r = flows[i].record;
    src[i] = hosts.emplace(r.src, static_cast<int>(hosts.size())).first->second;
    dst[i] = hosts.emplace(r.dst, static_cast<int>(hosts.size())).first->second;
    // A flow ending before it starts (a negative duration in a log), or without an end, occupies
    // its start slice. Slices are counted in double first: a log's times are untrusted.
    const double end = std::isfinite(r.end_s) ? std::max(r.end_s, r.start_s) : r.start_s;
    const double first = std::floor((r.start_s - t0) / options.window_s);
    if (!(first >= 0 && first < kMaxSlice)) {
      ++skipped;
      continue;
    }
    const auto s0 = static_cast<std::uint32_t>(first);
    // A log may claim any duration: a flow gets at most kMaxSlicesPerFlow copies.
    const double last = std::min(std::floor((end - t0) / options.window_s), first + (kMaxSlicesPerFlow - 1));
    const auto s1 = static_cast<std::uint32_t>(last);
    last_slice[i] = s1;
    for (std::uint32_t s = s0; s <= s1; ++s) {
      per_graph[s / options.slices].emplace_back(static_cast<std::uint32_t>(i), s);
    }
  }
  if (skipped > 0) {
    throw std::runtime_error("graph: " + std::to_string(skipped) + " flows start more than " +
                             std::to_string(kMaxSlice * options.window_s) +
                             " s after the file's first flow (times in mixed units?)");
  }
  for (auto& [graph, copies] : per_graph) {
    graphs.push_back(
        build_one(flows, src, dst, last_slice, std::move(copies), graph * options.slices, options));
  }
  return graphs;
}

}  // namespace trafficfm::datasets
