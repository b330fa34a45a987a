// Node-level fine-tuning, the pieces every model shares: each flow is classified at exactly one
// node (its own copy in its last slice, also across graphs and METIS parts); a loader reads
// several splits as one index space for a role; the label plan of a graph corpus takes each
// role's flows from the graphs of every split, the few shots from the train split only; and
// the fine-tuning task learns from the plan's nodes of the batch's role and nothing else.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/rng.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/corpus/manifest.h"
#include "datasets/graph/graph_encoder.h"
#include "datasets/graph/graph_partition.h"
#include "datasets/loader/loader.h"
#include "models/finetune/finetune_task.h"
#include "models/graph/graph_classifier.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

using datasets::FlowGraph;
using datasets::GraphFlow;

// 600 flows among 30 hosts over 60 s (several graphs at 5 s x 5 slices), many spanning slices
// and some spanning graphs; label = dst % 3, split = a hash of the flow.
std::vector<GraphFlow> labeled_flows(int count = 600) {
  std::vector<GraphFlow> flows;
  std::uint64_t state = 19;
  for (int i = 0; i < count; ++i) {
    GraphFlow f;
    const double start = 60.0 * i / count;
    f.record.start_s = start;
    f.record.end_s = start + static_cast<double>(core::splitmix64(state) % 120) * 0.1;
    f.record.src.family = f.record.dst.family = 4;
    const int src = 1 + static_cast<int>(core::splitmix64(state) % 30);
    const int dst = 1 + static_cast<int>(core::splitmix64(state) % 30);
    f.record.src.bytes[3] = static_cast<std::uint8_t>(src);
    f.record.dst.bytes[3] = static_cast<std::uint8_t>(dst);
    f.record.protocol = 6;
    for (int s = 0; s < datasets::kFlowStatistics; ++s)
      f.record.stats[s] = static_cast<float>(core::splitmix64(state) % 1000);
    f.label = dst % 3;
    f.key = static_cast<std::uint64_t>(i) + 1;
    f.split = static_cast<std::int8_t>(datasets::choose_split(f.key, 0.2, 0.2));
    flows.push_back(f);
  }
  return flows;
}

TEST(FlowTarget, EveryFlowIsClassifiedAtOneOwnNodeInItsLastSlice) {
  const auto flows = labeled_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  ASSERT_GT(graphs.size(), 2u);
  std::map<std::uint32_t, int> targets;
  std::map<std::uint32_t, std::uint32_t> latest;  // flow -> latest slice of any copy
  for (const auto& g : graphs) {
    for (const auto& n : g.flows) {
      latest[n.flow] = std::max(latest[n.flow], g.first_slice + n.slice);
    }
  }
  int spanning_graphs = 0;
  for (const auto& g : graphs) {
    for (const auto& n : g.flows) {
      if (!n.last) continue;
      ++targets[n.flow];
      EXPECT_EQ(g.first_slice + n.slice, latest[n.flow]) << "flow " << n.flow;
      spanning_graphs += g.first_slice + n.slice >= 5 && flows[n.flow].record.start_s < g.first_slice * 5.0;
    }
  }
  EXPECT_EQ(targets.size(), flows.size());
  for (const auto& [flow, count] : targets) EXPECT_EQ(count, 1) << "flow " << flow;
  EXPECT_GT(spanning_graphs, 0) << "no flow spans two graphs: the test shows nothing";
  // Cut into METIS parts with halos: still one own target per flow (a halo copy is input only).
  const auto& big =
      *std::max_element(graphs.begin(), graphs.end(),
                        [](const FlowGraph& a, const FlowGraph& b) { return a.nodes() < b.nodes(); });
  const auto parts = datasets::partition_flow_graph(big, datasets::metis_parts(big, 3, 1), 3, 2);
  std::map<std::uint32_t, int> own_targets, whole_targets;
  for (const auto& n : big.flows) whole_targets[n.flow] += n.last;
  for (const auto& p : parts) {
    for (const auto& n : p.flows) own_targets[n.flow] += n.last && !n.halo;
  }
  EXPECT_EQ(own_targets, whole_targets);
}

// A graph corpus of the flows' graphs, each graph in the shard split a hash of its index gives.
std::string write_graph_corpus(const std::string& dir, const std::vector<GraphFlow>& flows) {
  datasets::CorpusWriter writer(dir, "graph", datasets::graph_schema(), 1 << 16, {}, 0, 1, /*dedup=*/false);
  const auto graphs = datasets::build_flow_graphs(flows, {});
  for (std::size_t i = 0; i < graphs.size(); ++i) {
    const int split = static_cast<int>(i % 3);
    datasets::append_graph(graphs[i], flows, writer.row_buffer(split));
    EXPECT_TRUE(writer.commit_row(split, -1, i + 100));
  }
  writer.finish();
  datasets::Manifest m;
  m.encoder = "graph";
  m.columns = writer.schema();
  m.shards = writer.shards();
  m.label_names = {"a", "b", "c"};
  datasets::write_manifest(dir, m);
  return dir;
}

TEST(JoinedSplits, OneIndexSpaceInTheOrderNamedAndTheRoleOnEachBatch) {
  const auto dir = write_graph_corpus(testing::make_temp_dir("joined"), labeled_flows());
  const auto manifest = datasets::read_manifest(dir);
  datasets::LoaderOptions o;
  o.corpus = dir;
  o.batch_size = 1000;
  o.split = "val+train";
  o.role = "val";
  datasets::Loader joined(o);
  EXPECT_EQ(joined.samples_per_epoch(), manifest.samples("val") + manifest.samples("train"));
  const auto batch = joined.next();
  EXPECT_EQ(batch.role, "val");
  EXPECT_EQ(batch.rows, joined.samples_per_epoch());
  // Sample i < val's count is val's i; then train's, in order.
  o.split = "train";
  o.role.clear();
  datasets::Loader train(o);
  const auto train_batch = train.next();
  EXPECT_EQ(train_batch.role, "train");
  std::map<std::uint64_t, std::int64_t> joined_nodes, train_nodes;  // sample -> its graph's cost
  auto nodes_of = [](const datasets::Batch& b, std::map<std::uint64_t, std::int64_t>& out) {
    const auto* cost = b.column<std::int64_t>("cost");
    for (std::size_t r = 0; r < b.rows; ++r) out[b.sample_index[r]] = cost[r];
  };
  nodes_of(batch, joined_nodes);
  nodes_of(train_batch, train_nodes);
  for (const auto& [i, n] : train_nodes) EXPECT_EQ(joined_nodes.at(i + manifest.samples("val")), n) << i;
  for (const char* bad : {"train+train", "train+", "everything"}) {
    o.split = bad;
    EXPECT_THROW(datasets::Loader{o}, std::invalid_argument) << bad;
  }
  testing::remove_tree(dir);
}

TEST(NodeLabelPlan, EachRoleTakesItsOwnFlowsFromEveryGraphAndShotsOnlyFromTrain) {
  const auto flows = labeled_flows();
  const auto dir = write_graph_corpus(testing::make_temp_dir("node_plan"), flows);
  LabelPlanOptions options;
  options.nodes = graph_node_labels();
  options.shots = 4;
  options.seed = 3;
  const auto plan = make_label_plan(dir, options);
  EXPECT_EQ(plan.node_splits, "train+val+test");
  EXPECT_EQ(plan.classes, (std::vector<std::string>{"a", "b", "c"}));
  // Independently: every flow's target node, by reading the joined splits' flow columns.
  datasets::LoaderOptions o;
  o.corpus = dir;
  o.split = plan.node_splits;
  o.batch_size = 1000;
  datasets::Loader all(o);
  const auto b = all.next();
  ASSERT_EQ(b.rows, all.samples_per_epoch());
  std::map<std::uint64_t, std::pair<int, int>> node;  // unit -> split, label
  std::map<int, std::set<std::uint64_t>> shard_splits_of_role;
  const auto& off = b.offsets_of("flow_target");
  const auto* target = b.column<std::uint8_t>("flow_target");
  const auto* split = b.column<std::int8_t>("flow_split");
  const auto* label = b.column<std::int32_t>("flow_label");
  for (std::size_t r = 0; r < b.rows; ++r) {
    for (auto n = off[r]; n < off[r + 1]; ++n) {
      if (target[n]) node[label_unit(b.sample_index[r], n - off[r])] = {split[n], label[n]};
    }
  }
  EXPECT_EQ(node.size(), flows.size());  // one target per flow
  for (const auto& role : {"val", "test"}) {
    const int want = std::string(role) == "val" ? 1 : 2;
    std::size_t expected = 0;
    for (const auto& [unit, sl] : node) expected += sl.first == want;
    EXPECT_EQ(plan.units.at(role).size(), expected) << role << ": every flow of the split";
    std::set<std::uint64_t> samples;
    for (auto u : plan.units.at(role)) {
      EXPECT_EQ(node.at(u).first, want) << role;
      samples.insert(u >> 32);
    }
    EXPECT_EQ(plan.samples.at(role), std::vector<std::uint64_t>(samples.begin(), samples.end()));
    EXPECT_GT(samples.size(), all.samples_per_epoch() / 2) << role << "'s flows lie in graphs of every split";
  }
  ASSERT_EQ(plan.units.at("train").size(), 12u);  // 4 shots x 3 classes
  std::map<int, int> per_class;
  for (auto u : plan.units.at("train")) {
    EXPECT_EQ(node.at(u).first, 0);
    ++per_class[node.at(u).second];
  }
  EXPECT_EQ(per_class, (std::map<int, int>{{0, 4}, {1, 4}, {2, 4}}));
  EXPECT_EQ(make_label_plan(dir, options).units.at("train"), plan.units.at("train"));  // seeded
  options.seed = 4;
  EXPECT_NE(make_label_plan(dir, options).units.at("train"), plan.units.at("train"));
  EXPECT_NE(plan.to_json().find("\"train_nodes\": [["), std::string::npos) << plan.to_json();
  testing::remove_tree(dir);
}

TEST(NodeFinetune, OnlyThePlansNodesOfTheBatchRoleAreLearnedAndWeighed) {
  const auto flows = labeled_flows(200);
  const auto dir = write_graph_corpus(testing::make_temp_dir("node_task"), flows);
  LabelPlanOptions options;
  options.nodes = graph_node_labels();
  options.shots = 2;
  const auto plan = make_label_plan(dir, options);
  GraphConfig config;
  config.hidden = 8;
  GraphClassifier classifier(config, "{}", 3, 1, torch::kCPU), best(config, "{}", 3, 1, torch::kCPU);
  FinetuneTask task(classifier, best, plan, {}, torch::kCPU);
  datasets::LoaderOptions o;
  o.corpus = dir;
  o.split = plan.node_splits;
  o.subset = plan.samples.at("train");
  o.role = "train";
  o.batch_size = 1000;
  datasets::Loader loader(o);
  auto batch = loader.next();
  classifier.module().train();
  const auto out = classifier.forward(batch);
  // Rows are the batch's target nodes: far more than the 6 shots.
  EXPECT_GT(out.logits.size(0), 20);
  EXPECT_EQ(out.units.size(0), out.logits.size(0));
  auto terms = task.losses(batch);
  EXPECT_EQ(terms.at("weight").item<double>(), 6.0);
  // Changing the label of every node that is not a planned train node changes nothing.
  const auto c = batch.column_index("flow_label");
  const auto& planned = plan.units.at("train");
  auto* labels = reinterpret_cast<std::int32_t*>(batch.data[c].data());
  const auto& offsets = batch.offsets_of("flow_label");
  for (std::size_t r = 0; r < batch.rows; ++r) {
    for (auto n = offsets[r]; n < offsets[r + 1]; ++n) {
      const auto u = label_unit(batch.sample_index[r], n - offsets[r]);
      if (!std::binary_search(planned.begin(), planned.end(), u)) labels[n] = (labels[n] + 1) % 3;
    }
  }
  EXPECT_EQ(task.losses(batch).at("loss").item<double>(), terms.at("loss").item<double>());
  // The same batch for the val role: none of its planned train nodes count, val's do.
  batch.role = "val";
  const auto val_weight = task.losses(batch).at("weight").item<double>();
  std::size_t val_units = 0;
  for (std::size_t r = 0; r < batch.rows; ++r) {
    const auto lo = label_unit(batch.sample_index[r], 0), hi = label_unit(batch.sample_index[r] + 1, 0);
    const auto& v = plan.units.at("val");
    val_units += static_cast<std::size_t>(std::lower_bound(v.begin(), v.end(), hi) -
                                          std::lower_bound(v.begin(), v.end(), lo));
  }
  EXPECT_EQ(val_weight, static_cast<double>(val_units));
  batch.role = "nothing";
  auto none = task.losses(batch);
  EXPECT_EQ(none.at("weight").item<double>(), 0.0);
  none.at("loss").backward();  // still a graph: every dp rank runs backward
  testing::remove_tree(dir);
}

TEST(GraphClassifier, LoadsALinkPredictionEncoderByItsNamesAndRefusesAnotherSize) {
  GraphConfig config;
  config.hidden = 8;
  HeteroSage pretrained(config);
  {
    torch::NoGradGuard no_grad;
    pretrained->log1p_max.fill_(9.0);
  }
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : pretrained->named_parameters()) tensors[p.key()] = p.value();
  for (const auto& p : pretrained->named_buffers()) tensors[p.key()] = p.value();
  GraphClassifier classifier(config, "{}", 2, 5, torch::kCPU);
  auto alone = distributed::make_local_communicator();
  EXPECT_EQ(classifier.load_pretrained(tensors, *alone), tensors.size());
  for (const auto& p : classifier.module().named_parameters()) {
    if (p.key().rfind("encoder.", 0) == 0) {
      EXPECT_TRUE(p.value().equal(tensors.at(p.key().substr(8)))) << p.key();
    }
  }
  EXPECT_EQ(classifier.layer_of("encoder.layer1_copy.lin_l.weight"), 2);
  EXPECT_EQ(classifier.layer_of("head.0.weight"), 3);
  config.hidden = 16;
  GraphClassifier wider(config, "{}", 2, 5, torch::kCPU);
  EXPECT_THROW(wider.load_pretrained(tensors, *alone), std::runtime_error);
  config.layers = 0;  // the no-graph baseline: the head on a flow's own features
  GraphClassifier mlp(config, "{}", 2, 5, torch::kCPU);
  const auto flows = labeled_flows(50);
  const auto dir = write_graph_corpus(testing::make_temp_dir("node_mlp"), flows);
  datasets::LoaderOptions o;
  o.corpus = dir;
  o.split = "train+val+test";
  o.batch_size = 1000;
  datasets::Loader loader(o);
  EXPECT_EQ(mlp.forward(loader.next()).logits.size(0), 50);
  EXPECT_THROW(mlp.freeze("embed"), std::exception);
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::models
