// Cuts a flow graph too large for one sample into parts (METIS k-way, seeded), each stored
// with its L-hop halo: every node whose embedding after L message-passing layers some own node
// depends on. A part is the subgraph induced by its own and halo nodes, so an own node sees
// exactly the neighbours it has in the whole graph at every layer, and gets the whole graph's
// embedding; halo nodes are inputs only (no loss, no label).
#pragma once
#include <cstdint>
#include <vector>

#include "datasets/graph/flow_graph.h"

namespace trafficfm::datasets {

struct PartitionStats {
  std::int64_t edge_cut = 0;  // METIS' objective: undirected edges between parts
  double seconds = 0;
};

// Which part each node goes to: flows first (0 .. F-1), then ips (F ..). METIS on the
// undirected, unweighted union of all edge types.
std::vector<std::int32_t> metis_parts(const FlowGraph& graph, int parts, std::uint64_t seed,
                                      PartitionStats* stats = nullptr);

// The parts of `graph` with `layers`-hop halos (layers 0: no halo, for tests that show it is
// needed). Messages follow the spatial edges both ways and the temporal ones forward.
std::vector<FlowGraph> partition_flow_graph(const FlowGraph& graph, const std::vector<std::int32_t>& part_of,
                                            int parts, int layers);

}  // namespace trafficfm::datasets
