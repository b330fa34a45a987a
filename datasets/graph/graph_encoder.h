// The `graph` corpus encoding: one sample per flow graph (or per METIS part of one), in ragged
// columns. Statistics are stored raw; their ranges on the train split (log1p, min and max) are
// in the manifest's encoder settings (feature_log1p_min / _max), and the model scales by them.
#pragma once
#include <vector>

#include "datasets/corpus/columns.h"
#include "datasets/graph/flow_graph.h"

namespace trafficfm::datasets {

// Column order of the graph schema (the corpus writer appends label and flow_hash).
enum GraphColumn : std::size_t {
  kGraphNodes = 0,  // int64: flow + ip nodes (the loader's size column)
  kGraphCost,       // int64: nodes + edges (the loader balances ranks by it)
  kGraphPart,       // int32[2]: part index, parts (0, 1 when whole)
  kFlowStats,       // ragged float32[39]
  kFlowProtocol,    // ragged uint8
  kFlowIpVersion,   // ragged uint8
  kFlowSlice,       // ragged uint8
  kFlowOrder,       // ragged int32
  kFlowLabel,       // ragged int32
  kFlowSplit,       // ragged int8
  kFlowKey,         // ragged uint64
  kFlowHalo,        // ragged uint8
  kFlowTarget,      // ragged uint8
  kIpSlice,         // ragged uint8
  kIpHalo,          // ragged uint8
  kEdges,           // ragged int32[2]
  kEdgeType,        // ragged uint8
  kGraphColumns
};
std::vector<ColumnSpec> graph_schema();
const char* graph_column_name(GraphColumn column);

// Appends one graph as the current row (columns as in graph_schema()).
void append_graph(const FlowGraph& graph, const std::vector<GraphFlow>& flows, ColumnBuffer& out);

}  // namespace trafficfm::datasets
