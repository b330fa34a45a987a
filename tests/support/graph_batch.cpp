#include "tests/support/graph_batch.h"

#include "core/rng.h"
#include "datasets/graph/graph_encoder.h"

namespace trafficfm::testing {

datasets::GraphFlow random_flow(double start, double duration, int src, int dst, std::uint64_t& state) {
  datasets::GraphFlow f;
  f.record.start_s = start;
  f.record.end_s = start + duration;
  f.record.src.family = f.record.dst.family = 4;
  f.record.src.bytes[3] = static_cast<std::uint8_t>(src);
  f.record.dst.bytes[3] = static_cast<std::uint8_t>(dst);
  f.record.protocol = core::splitmix64(state) % 2 ? 6 : 17;
  for (int i = 0; i < datasets::kFlowStatistics; ++i)
    f.record.stats[i] = static_cast<float>(core::splitmix64(state) % 1000);
  f.record.stats[5] = __builtin_nanf("");  // a statistic the source does not give
  return f;
}

datasets::Batch graph_batch(const std::vector<datasets::FlowGraph>& graphs,
                            const std::vector<datasets::GraphFlow>& flows) {
  datasets::ColumnBuffer buffer(datasets::graph_schema());
  for (const auto& g : graphs) {
    datasets::append_graph(g, flows, buffer);
    buffer.end_row();
  }
  datasets::Batch b;
  b.specs = buffer.specs();
  for (std::size_t c = 0; c < b.specs.size(); ++c) {
    b.data.push_back(buffer.data(c));
    b.offsets.push_back(buffer.offsets(c));
  }
  b.rows = graphs.size();
  for (std::size_t i = 0; i < graphs.size(); ++i) b.sample_index.push_back(i);
  return b;
}

}  // namespace trafficfm::testing
