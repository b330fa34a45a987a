// Ragged columns (writer, shard, loader), size-bounded batches balanced across dp, and the
// flow-graph builder and METIS partitions with halos.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/rng.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/graph/flow_graph.h"
#include "datasets/graph/graph_partition.h"
#include "datasets/loader/loader.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

ColumnSpec ragged(const std::string& name, DType type, std::vector<std::uint64_t> shape) {
  ColumnSpec spec{name, type, std::move(shape), "test"};
  spec.ragged = true;
  return spec;
}

// Sample i has i % 7 elements [i, e] in "pairs" and size 1 + i % 7 in "size".
std::vector<ColumnSpec> ragged_schema() {
  return {{"size", DType::kInt64, {}, "test"}, ragged("pairs", DType::kInt32, {2})};
}

std::string write_ragged_corpus(const std::string& dir, std::uint64_t samples, std::size_t chunk_rows) {
  ShardWriteOptions options;
  options.chunk_rows = chunk_rows;
  CorpusWriter writer(dir, "test", ragged_schema(), 4096, options, 0, 1, /*dedup=*/false);
  for (std::uint64_t i = 0; i < samples; ++i) {
    auto& buffer = writer.row_buffer(0);
    buffer.put(0, static_cast<std::int64_t>(1 + i % 7));
    for (std::uint64_t e = 0; e < i % 7; ++e) {
      const std::int32_t pair[2] = {static_cast<std::int32_t>(i), static_cast<std::int32_t>(e)};
      buffer.put(1, pair, 2);
    }
    EXPECT_TRUE(writer.commit_row(0, -1, i));
  }
  writer.finish();
  Manifest m;
  m.encoder = "test";
  m.columns = writer.schema();
  m.shards = writer.shards();
  write_manifest(dir, m);
  return dir;
}

TEST(RaggedColumns, RoundTripThroughShardsManifestAndLoader) {
  const auto dir = testing::make_temp_dir("ragged");
  write_ragged_corpus(dir, 200, 16);
  const auto manifest = read_manifest(dir);
  ASSERT_GT(manifest.shards.size(), 1u);  // several shards, so offsets restart per shard
  EXPECT_TRUE(manifest.columns[1].ragged);
  EXPECT_FALSE(manifest.columns[0].ragged);
  LoaderOptions o;
  o.corpus = dir;
  o.batch_size = 13;
  o.prefetch = 1;
  Loader loader(o);
  std::set<std::uint64_t> seen;
  for (std::uint64_t s = 0; s < loader.steps_per_epoch(); ++s) {
    const auto batch = loader.next();
    const auto& offsets = batch.offsets_of("pairs");
    ASSERT_EQ(offsets.size(), batch.rows + 1);
    const auto* pairs = batch.column<std::int32_t>("pairs");
    for (std::size_t r = 0; r < batch.rows; ++r) {
      const auto i = batch.column<std::int64_t>("flow_hash")[r];
      seen.insert(static_cast<std::uint64_t>(i));
      ASSERT_EQ(offsets[r + 1] - offsets[r], static_cast<std::uint64_t>(i % 7)) << "sample " << i;
      for (auto e = offsets[r]; e < offsets[r + 1]; ++e) {
        EXPECT_EQ(pairs[2 * e], i);
        EXPECT_EQ(pairs[2 * e + 1], static_cast<std::int32_t>(e - offsets[r]));
      }
    }
  }
  EXPECT_EQ(seen.size(), 200u);
  testing::remove_tree(dir);
}

TEST(RaggedColumns, CorruptOffsetsAreRefusedNamingTheShard) {
  const auto dir = testing::make_temp_dir("ragged-bad");
  ColumnBuffer buffer(ragged_schema());
  for (int i = 0; i < 3; ++i) {
    buffer.put(0, static_cast<std::int64_t>(1));
    const std::int32_t pair[2] = {i, 0};
    buffer.put(1, pair, 2);
    buffer.end_row();
  }
  const std::string path = dir + "/shard.h5";
  write_shard(path, buffer, {}, "test");
  EXPECT_NO_THROW(ShardReader(path, ragged_schema()));
  auto corrupt = [&](std::vector<std::uint64_t> offsets, const std::string& expected) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "pairs.offsets", H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets.data());
    H5Dclose(dataset);
    H5Fclose(file);
    try {
      ShardReader reader(path, ragged_schema());
      FAIL() << "offsets " << offsets[1] << "... must be refused";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  corrupt({0, 2, 1, 3}, "not ascending");
  corrupt({0, 1, 2, 9}, "ends at 9");
  testing::remove_tree(dir);
}

TEST(SizeBoundedBatches, BudgetHeldEverySampleOnceAndRanksSplitTheSameSteps) {
  const auto dir = testing::make_temp_dir("sized");
  write_ragged_corpus(dir, 300, 16);
  auto options = [&](int rank, int size) {
    LoaderOptions o;
    o.corpus = dir;
    o.batch_size = 10;  // size units per rank
    o.size_column = "size";
    o.dp_rank = rank;
    o.dp_size = size;
    o.seed = 3;
    o.pad_empty_ranks = true;
    return o;
  };
  Loader one(options(0, 1));
  Loader first(options(0, 2)), second(options(1, 2));
  std::multiset<std::uint64_t> seen;
  std::vector<std::vector<std::uint64_t>> single_steps;
  for (std::uint64_t s = 0; s < one.steps_per_epoch(); ++s) {
    const auto b = one.next();
    std::int64_t total = 0;
    for (std::size_t r = 0; r < b.rows; ++r) total += b.column<std::int64_t>("size")[r];
    EXPECT_TRUE(total <= 10 || b.rows == 1) << "step " << s << " holds " << total;
    seen.insert(b.sample_index.begin(), b.sample_index.end());
  }
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_EQ(std::set<std::uint64_t>(seen.begin(), seen.end()).size(), 300u);
  // Two ranks: a step's budget is 20; together they take each sample once per epoch, and the
  // shares are balanced (neither over the step's total).
  std::multiset<std::uint64_t> both;
  for (std::uint64_t s = 0; s < first.steps_per_epoch(); ++s) {
    const auto a = first.next(), b = second.next();
    for (const auto* batch : {&a, &b}) {
      if (!batch->filler) both.insert(batch->sample_index.begin(), batch->sample_index.end());
    }
  }
  EXPECT_EQ(both.size(), 300u);
  EXPECT_EQ(std::set<std::uint64_t>(both.begin(), both.end()).size(), 300u);
  // Restore a dp-2 state onto one rank: the rest of the epoch, no sample twice.
  Loader half(options(0, 2)), half2(options(1, 2));
  std::set<std::uint64_t> before;
  for (int s = 0; s < 5; ++s) {
    for (auto* l : {&half, &half2}) {
      const auto b = l->next();
      if (!b.filler) before.insert(b.sample_index.begin(), b.sample_index.end());
    }
  }
  Loader rest(options(0, 1));
  rest.restore(half.state());
  std::set<std::uint64_t> after;
  while (rest.state().epoch == 0) {
    const auto b = rest.next();
    for (auto i : b.sample_index) EXPECT_TRUE(after.insert(i).second && !before.count(i)) << i;
  }
  EXPECT_EQ(before.size() + after.size(), 300u);
  testing::remove_tree(dir);
}

GraphFlow flow(double start, double end, int src, int dst, int split = 0) {
  GraphFlow f;
  f.record.start_s = start;
  f.record.end_s = end;
  f.record.src.family = f.record.dst.family = 4;
  f.record.src.bytes[3] = static_cast<std::uint8_t>(src);
  f.record.dst.bytes[3] = static_cast<std::uint8_t>(dst);
  f.record.protocol = 6;
  f.split = static_cast<std::int8_t>(split);
  return f;
}

TEST(FlowGraphs, SlicesCopiesAndEveryEdgeType) {
  // Hosts 1 -> 2 twice in slice 0, 1 -> 3 spanning slices 0-1, 4 -> 2 in slice 1, and one flow
  // 30 s later (graph 1 at window 5 s, 5 slices).
  const std::vector<GraphFlow> flows = {flow(0.0, 1.0, 1, 2), flow(2.0, 3.0, 1, 2), flow(4.0, 6.0, 1, 3),
                                        flow(7.0, 8.0, 4, 2), flow(31.0, 31.5, 1, 2)};
  const auto graphs = build_flow_graphs(flows, {});
  ASSERT_EQ(graphs.size(), 2u);
  const auto& g = graphs[0];
  EXPECT_EQ(g.flows.size(), 5u);     // flow 2 has two copies
  EXPECT_EQ(g.ips.size(), 3u + 4u);  // slice 0: hosts 1, 2, 3; slice 1: hosts 1, 3, 4, 2
  std::map<EdgeType, int> count;
  for (const auto& e : g.edges) ++count[e.type];
  EXPECT_EQ(count[EdgeType::kSends], 5);
  EXPECT_EQ(count[EdgeType::kArrives], 5);
  EXPECT_EQ(count[EdgeType::kCopy], 1);
  EXPECT_EQ(count[EdgeType::kIpNext], 3);   // hosts 1, 2 and 3 are in both slices
  EXPECT_EQ(count[EdgeType::kSrcNext], 3);  // slice 0: host 1's 3 flows, each to the next two
  EXPECT_EQ(count[EdgeType::kDstNext], 1);  // slice 0: the two flows to host 2
  EXPECT_TRUE(std::is_sorted(g.edges.begin(), g.edges.end(),
                             [](const GraphEdge& a, const GraphEdge& b) { return a.type < b.type; }));
  EXPECT_EQ(graphs[1].first_slice, 5u);
  EXPECT_EQ(graphs[1].flows.size(), 1u);
  // Neighbors bound the chains; input order does not matter.
  GraphOptions one;
  one.neighbors = 1;
  int chained = 0;
  const auto bounded = build_flow_graphs(flows, one);  // named: a temporary's member dies in a range-for
  for (const auto& e : bounded[0].edges) chained += e.type == EdgeType::kSrcNext;
  EXPECT_EQ(chained, 2);
  auto reversed = flows;
  std::reverse(reversed.begin(), reversed.end());
  const auto a = build_flow_graphs(flows, {}), b = build_flow_graphs(reversed, {});
  ASSERT_EQ(a[0].edges.size(), b[0].edges.size());
  ASSERT_EQ(a[0].flows.size(), b[0].flows.size());
  for (std::size_t i = 0; i < a[0].flows.size(); ++i) {  // the same nodes in the same order
    EXPECT_EQ(a[0].flows[i].flow, flows.size() - 1 - b[0].flows[i].flow);
    EXPECT_EQ(a[0].flows[i].order, b[0].flows[i].order);
  }
  EXPECT_TRUE(build_flow_graphs({}, {}).empty());
}

// A graph of a few thousand nodes: 60 hosts, 1,500 flows within 25 s.
std::vector<GraphFlow> busy_flows() {
  std::vector<GraphFlow> flows;
  std::uint64_t state = 7;
  for (int i = 0; i < 1500; ++i) {
    const double start = 20.0 * i / 1500.0;
    const int src = 1 + static_cast<int>(core::splitmix64(state) % 60);
    const int dst = 1 + static_cast<int>(core::splitmix64(state) % 60);
    flows.push_back(flow(start, start + static_cast<double>(core::splitmix64(state) % 40) * 0.1, src, dst));
  }
  return flows;
}

TEST(GraphPartition, MetisPartsWithHalosCoverEveryNodeOnceAsOwn) {
  const auto graphs = build_flow_graphs(busy_flows(), {});
  ASSERT_EQ(graphs.size(), 1u);
  const auto& g = graphs[0];
  ASSERT_GT(g.nodes(), 2000u);
  PartitionStats stats;
  const auto part_of = metis_parts(g, 4, 1, &stats);
  EXPECT_EQ(part_of, metis_parts(g, 4, 1));  // seeded: deterministic
  EXPECT_GT(stats.edge_cut, 0);
  const auto parts = partition_flow_graph(g, part_of, 4, 2);
  ASSERT_EQ(parts.size(), 4u);
  std::size_t own = 0, halo = 0;
  for (const auto& p : parts) {
    for (const auto& n : p.flows) (n.halo ? halo : own) += 1;
    for (const auto& n : p.ips) (n.halo ? halo : own) += 1;
    EXPECT_EQ(p.parts, 4u);
  }
  EXPECT_EQ(own, g.nodes());
  EXPECT_GT(halo, 0u);
  const auto no_halo = partition_flow_graph(g, part_of, 4, 0);
  std::size_t total = 0;
  for (const auto& p : no_halo) total += p.nodes();
  EXPECT_EQ(total, g.nodes());
}

}  // namespace
}  // namespace trafficfm::datasets
