// Spatio-temporal flow graphs (PPT-GNN's design, ../shared/papers/MODELS.md): the flows of one
// source file are cut into slices of `window_s`; a graph holds `slices` consecutive slices. A
// flow is a node in every slice it overlaps (its copies). Node types: flow, ip (one per host
// and slice). Edge types, kept apart:
//   sends    ip -> flow  (the flow's source host)        spatial, used in both directions
//   arrives  flow -> ip  (the flow's destination host)   spatial, used in both directions
//   ip_next  ip -> ip    (one host in consecutive slices)              temporal, forward
//   src_next flow -> flow (to the next <= neighbors flows of the same source host in a slice)
//   dst_next flow -> flow (likewise for the destination host)
//   copy     flow -> flow (one flow's copies in consecutive slices)
// Node indices in an edge are per type (flow i, ip j). No address or port reaches a feature.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "datasets/encoders/flows_encoder.h"
#include "datasets/flow/flow.h"
#include "datasets/flow/flow_table.h"

namespace trafficfm::datasets {

enum class NodeType : std::uint8_t { kFlow = 0, kIp = 1 };
enum class EdgeType : std::uint8_t { kSends = 0, kArrives, kIpNext, kSrcNext, kDstNext, kCopy, kCount };
constexpr int kEdgeTypes = static_cast<int>(EdgeType::kCount);
extern const std::array<const char*, kEdgeTypes> kEdgeTypeNames;
NodeType edge_source_type(EdgeType type);
NodeType edge_target_type(EdgeType type);

// One flow of a source file, with what the corpus knows about it.
struct GraphFlow {
  FlowRecord record;
  std::int32_t label = -1;
  std::int8_t split = 0;  // of the flow's 5-tuple (the split every encoder gives it)
  std::uint64_t key = 0;  // FlowKey::hash()
};

struct FlowNode {
  std::uint32_t flow = 0;  // index into the file's flows
  std::uint8_t slice = 0;  // within the graph
  std::int32_t order = 0;  // rank by start time among the flows of its slice
  bool halo = false;       // a partition's halo node: input only, no loss, no label
  // The flow's copy in the last slice it overlaps (of the copies made): the node that stands
  // for the flow in classification. Messages only go forward in time, so it has seen every
  // earlier copy and none of the future (PPT-GNN's "flows of the last slice", for every flow).
  bool last = false;
};
struct IpNode {
  std::uint8_t slice = 0;
  bool halo = false;
  std::uint32_t host = 0;  // the host's index in its file (not stored: no address reaches the corpus)
};
struct GraphEdge {
  EdgeType type;
  std::uint32_t source, target;  // per-type node indices
};

struct FlowGraph {
  std::uint32_t first_slice = 0;  // of the file, where the graph starts
  std::vector<FlowNode> flows;
  std::vector<IpNode> ips;
  std::vector<GraphEdge> edges;  // sorted by type
  std::uint32_t part = 0, parts = 1;
  std::size_t nodes() const { return flows.size() + ips.size(); }
};

// A flow overlapping more slices than this (a log's day-long connection) is a node in its
// first kMaxSlicesPerFlow slices only (at 5 s: 20 min).
constexpr std::uint32_t kMaxSlicesPerFlow = 240;

struct GraphOptions {
  double window_s = 5.0;
  int slices = 5;
  int neighbors = 20;
};

// The graphs of one source file (graphs without flows are not made). `flows` in any order.
std::vector<FlowGraph> build_flow_graphs(const std::vector<GraphFlow>& flows, const GraphOptions& options);

}  // namespace trafficfm::datasets
