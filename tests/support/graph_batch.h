// Flow graphs for model tests: synthetic flows between numbered hosts, and a batch of graphs as
// the loader would hand it to a model.
#pragma once
#include <cstdint>
#include <vector>

#include "datasets/graph/flow_graph.h"
#include "datasets/loader/loader.h"

namespace trafficfm::testing {

// A TCP or UDP flow (drawn from `state`) from host 10.0.0.src to 10.0.0.dst over
// [start, start + duration), random statistics, statistic 5 missing (NaN).
datasets::GraphFlow random_flow(double start, double duration, int src, int dst, std::uint64_t& state);
// The graphs as one batch of samples (graph_schema columns, offsets per sample).
datasets::Batch graph_batch(const std::vector<datasets::FlowGraph>& graphs,
                            const std::vector<datasets::GraphFlow>& flows);

}  // namespace trafficfm::testing
