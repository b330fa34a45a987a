#include "datasets/graph/graph_encoder.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/log.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/encoders/encoder.h"
#include "datasets/graph/graph_partition.h"

namespace trafficfm::datasets {

std::vector<ColumnSpec> graph_schema() {
  auto ragged = [](std::string name, DType type, std::vector<std::uint64_t> shape, std::string what) {
    ColumnSpec spec{std::move(name), type, std::move(shape), std::move(what)};
    spec.ragged = true;
    return spec;
  };
  return {
      {"nodes", DType::kInt64, {}, "flow + ip nodes of the sample (own and halo)"},
      {"cost", DType::kInt64, {}, "nodes + edges (what dp ranks are balanced by)"},
      {"part", DType::kInt32, {2}, "METIS part index and part count (0, 1: the whole graph)"},
      ragged("flow_stats", DType::kFloat32, {kFlowStatistics},
             "per flow node: the 39 flow statistics, raw; NaN unknown"),
      ragged("flow_protocol", DType::kUint8, {}, "per flow node: IP protocol number"),
      ragged("flow_ip_version", DType::kUint8, {}, "per flow node: 4 or 6"),
      ragged("flow_slice", DType::kUint8, {}, "per flow node: slice within the graph (0 .. slices-1)"),
      ragged("flow_order", DType::kInt32, {}, "per flow node: rank by start time in its slice"),
      ragged("flow_label", DType::kInt32, {}, "per flow node: label id (manifest label_names); -1 unlabeled"),
      ragged("flow_split", DType::kInt8, {},
             "per flow node: split of the flow's 5-tuple (0 train, 1 val, 2 test)"),
      ragged("flow_key", DType::kUint64, {},
             "per flow node: hash of the flow's 5-tuple (as other encodings' flow_hash)"),
      ragged("flow_halo", DType::kUint8, {}, "per flow node: 1 = halo of a part (input only)"),
      ragged("flow_target", DType::kUint8, {},
             "per flow node: 1 = the flow's own copy in its last slice (what classification labels)"),
      ragged("ip_slice", DType::kUint8, {}, "per ip node: slice within the graph"),
      ragged("ip_halo", DType::kUint8, {}, "per ip node: 1 = halo of a part"),
      ragged("edges", DType::kInt32, {2},
             "per edge: source, target (indices among the nodes of their types)"),
      ragged("edge_type", DType::kUint8, {},
             "per edge: 0 sends, 1 arrives, 2 ip_next, 3 src_next, 4 dst_next, 5 copy"),
  };
}

const char* graph_column_name(GraphColumn column) {
  static const auto schema = graph_schema();
  return schema[column].name.c_str();
}

void append_graph(const FlowGraph& g, const std::vector<GraphFlow>& flows, ColumnBuffer& out) {
  out.put(kGraphNodes, static_cast<std::int64_t>(g.nodes()));
  out.put(kGraphCost, static_cast<std::int64_t>(g.nodes() + g.edges.size()));
  const std::int32_t part[2] = {static_cast<std::int32_t>(g.part), static_cast<std::int32_t>(g.parts)};
  out.put(kGraphPart, part, 2);
  for (const auto& node : g.flows) {
    const GraphFlow& f = flows[node.flow];
    out.put(kFlowStats, f.record.stats.data(), f.record.stats.size());
    out.put(kFlowProtocol, f.record.protocol);
    out.put(kFlowIpVersion, f.record.src.family);
    out.put(kFlowSlice, node.slice);
    out.put(kFlowOrder, node.order);
    out.put(kFlowLabel, f.label);
    out.put(kFlowSplit, f.split);
    out.put(kFlowKey, f.key);
    out.put(kFlowHalo, static_cast<std::uint8_t>(node.halo));
    out.put(kFlowTarget, static_cast<std::uint8_t>(node.last && !node.halo));
  }
  for (const auto& ip : g.ips) {
    out.put(kIpSlice, ip.slice);
    out.put(kIpHalo, static_cast<std::uint8_t>(ip.halo));
  }
  for (const auto& e : g.edges) {
    const std::int32_t ends[2] = {static_cast<std::int32_t>(e.source), static_cast<std::int32_t>(e.target)};
    out.put(kEdges, ends, 2);
    out.put(kEdgeType, static_cast<std::uint8_t>(e.type));
  }
}

namespace {

class GraphEncoder : public Encoder {
 public:
  explicit GraphEncoder(const EncoderOptions& options) : options_(options) {
    graph_.window_s = options.graph_window_s;
    graph_.slices = options.graph_slices;
    graph_.neighbors = options.graph_neighbors;
    if (options.graph_max_nodes < 1 || options.graph_layers < 0) {
      throw std::invalid_argument("graph: --graph.max-nodes must be >= 1 and --graph.layers >= 0");
    }
    min_.fill(std::numeric_limits<double>::max());
    max_.fill(std::numeric_limits<double>::lowest());
  }
  std::string name() const override { return "graph"; }
  core::JsonObject settings() const override {
    return core::JsonObject()
        .set("window_s", graph_.window_s)
        .set("slices", graph_.slices)
        .set("neighbors", graph_.neighbors)
        .set("max_nodes", options_.graph_max_nodes)
        .set("halo_layers", options_.graph_layers)
        .set("metis_seed", options_.graph_seed)
        .set("edge_types", std::vector<std::string>(kEdgeTypeNames.begin(), kEdgeTypeNames.end()))
        .set("statistics", std::vector<std::string>(kFlowStatisticNames.begin(), kFlowStatisticNames.end()));
  }
  std::vector<ColumnSpec> schema() const override { return graph_schema(); }
  void adjust(FlowTableOptions&) const override {}
  bool encode(const Flow&, ColumnBuffer&) override { return false; }
  bool whole_file() const override { return true; }

  void collect(const FlowRecord& record, std::int32_t label, int split, std::uint64_t key) override {
    if (!std::isfinite(record.start_s)) return;  // a flow without a time has no slice
    flows_.push_back({record, label, static_cast<std::int8_t>(split), key});
  }

  void end_file(const std::string& path, const FileSink& sink) override {
    double t0 = 0, t1 = 0;
    if (!flows_.empty()) t0 = t1 = flows_[0].record.start_s;
    for (const auto& f : flows_) t0 = std::min(t0, f.record.start_s), t1 = std::max(t1, f.record.start_s);
    auto place = [&](double t) { return t1 > t0 ? (t - t0) / (t1 - t0) : 0.0; };
    if (sink.by_time) {  // a flow's split by when it starts in its file's span
      for (auto& f : flows_) f.split = static_cast<std::int8_t>(sink.split_at(place(f.record.start_s)));
    }
    // Feature ranges from the train split's flows only.
    for (const auto& f : flows_) {
      if (f.split != 0) continue;
      for (int i = 0; i < kFlowStatistics; ++i) {
        const float v = f.record.stats[i];
        if (std::isnan(v)) continue;
        const double x = std::log1p(std::max(0.0, static_cast<double>(v)));
        min_[i] = std::min(min_[i], x);
        max_[i] = std::max(max_[i], x);
      }
    }
    std::vector<FlowGraph> graphs;
    try {
      graphs = build_flow_graphs(flows_, graph_);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    for (const auto& whole : graphs) {
      std::vector<FlowGraph> parts;
      if (whole.nodes() > static_cast<std::size_t>(options_.graph_max_nodes)) {
        const int k =
            static_cast<int>((whole.nodes() + options_.graph_max_nodes - 1) / options_.graph_max_nodes);
        PartitionStats stats;
        const auto part_of = metis_parts(whole, k, options_.graph_seed, &stats);
        parts = partition_flow_graph(whole, part_of, k, options_.graph_layers);
        core::log_info("graph: ", path, ": graph of ", whole.nodes(), " nodes, ", whole.edges.size(),
                       " edges cut into ", parts.size(), " parts (edge cut ", stats.edge_cut, ", METIS ",
                       stats.seconds, " s)");
      } else {
        parts.push_back(whole);
      }
      for (const auto& part : parts) {
        // A sample's corpus split (for link prediction's val AUC) is by its file's name, its place
        // in the file and its part, not by where the file lies; node labels keep their flows' own
        // splits in flow_split.
        const std::uint64_t hash =
            text_hash(std::filesystem::path(path).filename().string() + "#" +
                      std::to_string(whole.first_slice) + "#" + std::to_string(part.part));
        // By time: the split of the place where the graph starts.
        const int split = sink.by_time ? sink.split_at(place(t0 + whole.first_slice * graph_.window_s))
                                       : sink.split_of(hash);
        append_graph(part, flows_, sink.buffer(split));
        sink.commit(split, hash);
      }
    }
    flows_.clear();
  }

  void abandon_file() override { flows_.clear(); }

  std::map<std::string, std::vector<double>> learned() const override {
    return {{"feature_log1p_min", std::vector<double>(min_.begin(), min_.end())},
            {"feature_log1p_max", std::vector<double>(max_.begin(), max_.end())}};
  }

 private:
  EncoderOptions options_;
  GraphOptions graph_;
  std::vector<GraphFlow> flows_;
  std::array<double, kFlowStatistics> min_, max_;
};

}  // namespace

std::unique_ptr<Encoder> make_graph_encoder(const EncoderOptions& options) {
  return std::make_unique<GraphEncoder>(options);
}

}  // namespace trafficfm::datasets
