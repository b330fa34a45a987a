// The graph model: SAGE convolution against its formula, partitions with halos give own nodes
// the whole graph's embeddings (and without halos they do not), link prediction never passes
// messages over a supervision edge, feature scaling and AUC.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "core/rng.h"
#include "datasets/graph/graph_encoder.h"
#include "datasets/graph/graph_partition.h"
#include "distributed/communicator.h"
#include "models/common/sample_random.h"
#include "models/graph/attribute_masking.h"
#include "models/graph/graph_classifier.h"
#include "models/graph/graph_task.h"
#include "models/graph/hetero_sage.h"
#include "models/graph/link_prediction.h"
#include "tests/support/graph_batch.h"

namespace trafficfm::models {
namespace {

using datasets::FlowGraph;
using datasets::GraphFlow;

GraphFlow flow(double start, double duration, int src, int dst, std::uint64_t& state) {
  return testing::random_flow(start, duration, src, dst, state);
}

// One graph of a few thousand nodes: 60 hosts, 1,500 flows within 25 s.
std::vector<GraphFlow> busy_flows() {
  std::vector<GraphFlow> flows;
  std::uint64_t state = 11;
  for (int i = 0; i < 1500; ++i) {
    const int src = 1 + static_cast<int>(core::splitmix64(state) % 60);
    const int dst = 1 + static_cast<int>(core::splitmix64(state) % 60);
    flows.push_back(
        flow(20.0 * i / 1500.0, static_cast<double>(core::splitmix64(state) % 40) * 0.1, src, dst, state));
  }
  return flows;
}

datasets::Batch batch_of(const std::vector<FlowGraph>& graphs, const std::vector<GraphFlow>& flows) {
  return testing::graph_batch(graphs, flows);
}

GraphConfig small_config() {
  GraphConfig c;
  c.hidden = 16;
  return c;
}

GraphInputs inputs(const datasets::Batch& batch) {
  return collate_graphs(batch, torch::zeros({datasets::kFlowStatistics}),
                        torch::full({datasets::kFlowStatistics}, 7.0), 30, torch::kCPU);
}

TEST(SageConv, MeanOfSourcesPlusRootThenL2Normalized) {
  torch::manual_seed(0);
  SageConv conv(3, 2, 4);
  const auto xs = torch::randn({3, 3}), xt = torch::randn({2, 2});
  const auto e = torch::tensor({0, 1, 1, 1}, torch::kInt64).reshape({2, 2});  // 0->1, 1->1
  const auto out = conv->forward(xs, xt, e);
  const auto mean1 = (xs[0] + xs[1]) / 2;
  auto expect1 = conv->lin_l->forward(mean1.unsqueeze(0)) + conv->lin_r->forward(xt[1].unsqueeze(0));
  expect1 = expect1 / expect1.norm();
  auto expect0 = conv->lin_l->forward(torch::zeros({1, 3})) + conv->lin_r->forward(xt[0].unsqueeze(0));
  expect0 = expect0 / expect0.norm();  // no in-edges: the root term and the bias only
  EXPECT_TRUE(torch::allclose(out[1], expect1[0], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(out[0], expect0[0], 1e-6, 1e-6));
}

// Own-node embeddings of each part against the whole graph's.
double worst_own_difference(int layers_of_halo, std::size_t* nodes = nullptr) {
  const auto flows = busy_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  EXPECT_EQ(graphs.size(), 1u);
  const auto& whole = graphs[0];
  if (nodes) *nodes = whole.nodes();
  const auto part_of = datasets::metis_parts(whole, 4, 5);
  const auto parts = datasets::partition_flow_graph(whole, part_of, 4, layers_of_halo);
  EXPECT_EQ(parts.size(), 4u);
  torch::manual_seed(1);
  HeteroSage net(small_config());
  net->eval();
  torch::NoGradGuard no_grad;
  const auto in = inputs(batch_of({whole}, flows));
  const auto [flow_h, ip_h] = net->forward(in.flow_x, in.ip_x, in.edges);
  std::map<std::pair<std::uint32_t, std::uint8_t>, std::int64_t> flow_index;  // (flow, slice) -> node
  std::map<std::pair<std::uint32_t, std::uint8_t>, std::int64_t> ip_index;    // (host, slice) -> node
  for (std::size_t i = 0; i < whole.flows.size(); ++i)
    flow_index[{whole.flows[i].flow, whole.flows[i].slice}] = i;
  for (std::size_t i = 0; i < whole.ips.size(); ++i) ip_index[{whole.ips[i].host, whole.ips[i].slice}] = i;
  double worst = 0;
  for (const auto& part : parts) {
    const auto pin = inputs(batch_of({part}, flows));
    const auto [pf, pi] = net->forward(pin.flow_x, pin.ip_x, pin.edges);
    for (std::size_t i = 0; i < part.flows.size(); ++i) {
      if (part.flows[i].halo) continue;
      const auto j = flow_index.at({part.flows[i].flow, part.flows[i].slice});
      worst = std::max(worst, (pf[i] - flow_h[j]).abs().max().item<double>());
    }
    for (std::size_t i = 0; i < part.ips.size(); ++i) {
      if (part.ips[i].halo) continue;
      const auto j = ip_index.at({part.ips[i].host, part.ips[i].slice});
      worst = std::max(worst, (pi[i] - ip_h[j]).abs().max().item<double>());
    }
  }
  return worst;
}

TEST(GraphPartition, OwnNodesGetTheWholeGraphEmbeddingsOnlyWithTheirHalo) {
  // Two layers: a 2-hop halo gives every own node the embedding it has in the whole graph
  // (float32 summation order aside); no halo does not.
  std::size_t nodes = 0;
  const double with_halo = worst_own_difference(2, &nodes);
  EXPECT_GT(nodes, 2000u);
  const double without = worst_own_difference(0);
  EXPECT_LT(with_halo, 1e-5);
  EXPECT_GT(without, 1e-2);
  std::cout << "[ partition ] " << nodes << " nodes in 4 parts; worst own-node difference: with 2-hop halo "
            << with_halo << ", without " << without << "\n";
}

TEST(LinkPrediction, SupervisionEdgesAreOutOfMessagePassingInBothDirections) {
  const auto flows = busy_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  const auto batch = batch_of(graphs, flows);
  const auto in = inputs(batch);
  const auto keys = sample_keys(3, 0, batch.sample_index);
  const auto targets = draw_link_targets(in, 0.15, keys);
  std::int64_t held = 0;
  for (int t = 0; t < kEdgeTypes; ++t) {
    auto key_set = [](const torch::Tensor& e) {
      std::set<std::pair<std::int64_t, std::int64_t>> out;
      for (std::int64_t i = 0; i < e.size(1); ++i)
        out.insert({e[0][i].item<std::int64_t>(), e[1][i].item<std::int64_t>()});
      return out;
    };
    const auto message = key_set(targets.message[t]), positive = key_set(targets.positive[t]);
    const auto negative = key_set(targets.negative[t]), all = key_set(in.edges[t]);
    EXPECT_EQ(targets.message[t].size(1) + targets.positive[t].size(1), in.edges[t].size(1));
    for (const auto& p : positive) EXPECT_FALSE(message.count(p));
    for (const auto& n : negative) EXPECT_FALSE(all.count(n)) << "a negative is an edge";
    EXPECT_NEAR(static_cast<double>(targets.positive[t].size(1)), 0.15 * in.edges[t].size(1),
                0.05 * in.edges[t].size(1) + 5);
    held += targets.positive[t].size(1);
  }
  EXPECT_GT(held, 100);
  // The embeddings the decoder scores are those of the graph without the held-out edges: the
  // model cannot tell whether a supervision edge exists (a spatial edge's reverse relation is
  // the same tensor, so it is gone too).
  std::vector<FlowGraph> without = graphs;
  for (std::size_t g = 0; g < without.size(); ++g) {
    std::set<std::tuple<int, std::int64_t, std::int64_t>> drop;
    for (int t = 0; t < kEdgeTypes; ++t) {
      for (std::int64_t i = 0; i < targets.positive[t].size(1); ++i) {
        drop.insert(
            {t,
             targets.positive[t][0][i].item<std::int64_t>() -
                 (datasets::edge_source_type(static_cast<datasets::EdgeType>(t)) == datasets::NodeType::kFlow
                      ? in.flow_begin[g]
                      : in.ip_begin[g]),
             targets.positive[t][1][i].item<std::int64_t>() -
                 (datasets::edge_target_type(static_cast<datasets::EdgeType>(t)) == datasets::NodeType::kFlow
                      ? in.flow_begin[g]
                      : in.ip_begin[g])});
      }
    }
    auto& edges = without[g].edges;
    edges.erase(std::remove_if(edges.begin(), edges.end(),
                               [&](const datasets::GraphEdge& e) {
                                 return drop.count({static_cast<int>(e.type), e.source, e.target}) > 0;
                               }),
                edges.end());
  }
  torch::manual_seed(2);
  HeteroSage net(small_config());
  torch::NoGradGuard no_grad;
  const auto held_out = net->forward(in.flow_x, in.ip_x, targets.message);
  const auto pruned = inputs(batch_of(without, flows));
  const auto absent = net->forward(pruned.flow_x, pruned.ip_x, pruned.edges);
  EXPECT_LT((held_out.first - absent.first).abs().max().item<double>(), 1e-6);
  EXPECT_LT((held_out.second - absent.second).abs().max().item<double>(), 1e-6);
  // And they differ from the full graph's, so the check above can fail.
  const auto full = net->forward(in.flow_x, in.ip_x, in.edges);
  EXPECT_GT((held_out.first - full.first).abs().max().item<double>(), 1e-3);
}

TEST(GraphInputs, ScaledFeaturesMissingBitsAndCorruptEdgesNamed) {
  const auto flows = busy_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  auto batch = batch_of(graphs, flows);
  const auto in = inputs(batch);
  EXPECT_EQ(in.flow_x.size(1), flow_feature_dims(30));
  EXPECT_EQ(in.ip_x.size(1), ip_feature_dims(30));
  const auto scaled = in.flow_x.slice(1, 0, datasets::kFlowStatistics);
  EXPECT_GE(scaled.min().item<float>(), 0.0f);
  EXPECT_LE(scaled.max().item<float>(), 1.0f);
  EXPECT_EQ(in.flow_x.select(1, datasets::kFlowStatistics + 5).min().item<float>(), 1.0f);  // stat 5 missing
  EXPECT_EQ(in.flow_x.select(1, datasets::kFlowStatistics + 4).max().item<float>(), 0.0f);
  auto& edges = batch.data[datasets::kEdges];
  reinterpret_cast<std::int32_t*>(edges.data())[1] = 1 << 30;
  try {
    inputs(batch);
    FAIL() << "an edge beyond the sample's nodes must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("beyond its nodes"), std::string::npos) << e.what();
  }
}

TEST(GraphTask, AGraphWithNothingToPredictWeighsZeroAndStillBackpropagates) {
  std::uint64_t state = 3;
  const std::vector<GraphFlow> flows = {flow(0.0, 0.1, 1, 2, state)};  // one flow: 3 nodes, 2 edges
  const auto graphs = datasets::build_flow_graphs(flows, {});
  auto batch = batch_of(graphs, flows);
  // With attribute masking, DistMult and the link bias too: every parameter, decoders included,
  // still gets a (zero) gradient, so no dp rank lacks one.
  for (const double mask : {0.0, 0.5}) {
    auto config = small_config();
    config.mask = mask;
    config.decoder = mask > 0 ? "distmult" : "dot";
    config.link_bias = mask > 0;
    GraphLinkTask task(config, "{}", 0, torch::kCPU);
    task.model().train();
    // 2 edges at 15%: usually none held out; with none the loss is 0 with weight 0.
    bool weightless = false;
    for (std::uint64_t epoch = 0; epoch < 20 && !weightless; ++epoch) {
      batch.epoch = epoch;
      for (auto& p : task.model().parameters()) p.mutable_grad() = torch::Tensor();
      auto terms = task.losses(batch);
      ASSERT_TRUE(std::isfinite(terms["loss"].item<double>()));
      terms["loss"].backward();
      if (terms["weight"].item<double>() == 0) {
        weightless = true;
        EXPECT_EQ(terms["loss"].item<double>(), 0.0);
        EXPECT_EQ(terms.count("mask_mse"), mask > 0 ? 1u : 0u);
        for (const auto& p : task.model().named_parameters()) {
          EXPECT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient (mask " << mask << ")";
        }
      }
    }
    EXPECT_TRUE(weightless) << "every draw held an edge out (mask " << mask << ")";
  }
}

TEST(GraphTask, FlopsAreLinearInEdgesAndNodesWithTheRatesOfEachRelation) {
  GraphConfig c = small_config();  // hidden 16
  c.layers = 1;
  HeteroSage net(c);
  const auto rates = net->flop_rates();
  // sends is read forward (ip sources, 31 dims) and reversed (flow sources, 113 dims); one layer
  // reads the features, whose gradients are not scattered back: one add per dimension and count.
  EXPECT_DOUBLE_EQ(rates.per_edge[static_cast<int>(datasets::EdgeType::kSends)], (31 + 1) + (113 + 1));
  // Flow targets: src_next, dst_next, copy (flow -> flow) and sends, arrives reversed (ip -> flow);
  // forward and the weights' gradients (the input features need none).
  EXPECT_DOUBLE_EQ(rates.per_flow, 2.0 * 2.0 * 16 * (3 * (113 + 113) + 2 * (31 + 113)));
  std::array<std::int64_t, kEdgeTypes> edges{};
  edges[0] = 10;
  edges[5] = 4;
  EXPECT_DOUBLE_EQ(net->flops(7, 3, edges),
                   7 * rates.per_flow + 3 * rates.per_ip + 10 * rates.per_edge[0] + 4 * rates.per_edge[5]);
}

TEST(GraphTask, HistogramAucAndFeatureRangesFromTheManifest) {
  auto h = torch::zeros({2, 1024}, torch::kFloat64);
  h[0][10] = 5;
  h[1][900] = 5;
  EXPECT_DOUBLE_EQ(histogram_auc(h), 1.0);
  h[1][900] = 0;
  h[1][10] = 5;
  EXPECT_DOUBLE_EQ(histogram_auc(h), 0.5);
  h[1][10] = 0;
  h[1][3] = 5;
  EXPECT_DOUBLE_EQ(histogram_auc(h), 0.0);
  const auto [lo, hi] = feature_ranges(R"({"feature_log1p_min": [1, 2], "feature_log1p_max": [3, 4]})");
  EXPECT_EQ(lo[1].item<float>(), 2.0f);
  EXPECT_EQ(hi[0].item<float>(), 3.0f);
  EXPECT_EQ(hi[5].item<float>(), 1.0f);  // absent: the default
}

TEST(GraphTask, DistMultStartsAsTheDotProductAndLearnsAVectorPerEdgeType) {
  const auto flows = busy_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  const auto batch = batch_of(graphs, flows);
  auto config = small_config();
  GraphLinkTask dot(config, "{}", 4, torch::kCPU);
  config.decoder = "distmult";
  GraphLinkTask distmult(config, "{}", 4, torch::kCPU);  // same seed: the same encoder weights
  ASSERT_TRUE(distmult.net()->link_relation.defined());
  EXPECT_FALSE(dot.net()->link_relation.defined());
  dot.model().train();
  distmult.model().train();
  auto a = dot.losses(batch), b = distmult.losses(batch);
  EXPECT_NEAR(a["loss"].item<double>(), b["loss"].item<double>(), 1e-6);  // r = 1: x_s . x_t
  b["loss"].backward();
  const auto grad = distmult.net()->link_relation.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum(1).gt(0).sum().item<std::int64_t>(), 3) << "most edge types get a gradient";
  {
    torch::NoGradGuard no_grad;
    distmult.net()->link_relation.mul_(4.0);  // a logit beyond [-1, 1], out of the dot decoder's reach
  }
  EXPECT_NE(distmult.losses(batch)["loss"].item<double>(), b["loss"].item<double>());
}

TEST(GraphTask, TheLinkBiasStartsAtZeroAddsALinearTermPerEndpointAndIsNotFineTuned) {
  const auto flows = busy_flows();
  const auto graphs = datasets::build_flow_graphs(flows, {});
  const auto batch = batch_of(graphs, flows);
  for (const std::string decoder : {"dot", "distmult"}) {
    auto config = small_config();
    config.decoder = decoder;
    GraphLinkTask plain(config, "{}", 4, torch::kCPU);
    config.link_bias = true;
    GraphLinkTask biased(config, "{}", 4, torch::kCPU);  // same seed: the same encoder weights
    ASSERT_TRUE(biased.net()->link_bias.defined());
    EXPECT_FALSE(plain.net()->link_bias.defined());
    plain.model().train();
    biased.model().train();
    auto a = plain.losses(batch), b = biased.losses(batch);
    EXPECT_EQ(a["loss"].item<double>(), b["loss"].item<double>()) << decoder << ": zero at start";
    b["loss"].backward();
    const auto grad = biased.net()->link_bias.grad();
    ASSERT_TRUE(grad.defined());
    // Every edge type's source and target terms learn (each type has pairs in this graph).
    EXPECT_EQ(grad.abs().sum(2).gt(0).sum().item<std::int64_t>(), 2 * kEdgeTypes) << decoder;
    // Any nonzero w_t, v_t moves the logits (w_t . x_s + v_t . x_t), so the loss.
    {
      torch::NoGradGuard no_grad;
      biased.net()->link_bias.normal_(0.0, 1.0);
    }
    EXPECT_NE(biased.losses(batch)["loss"].item<double>(), b["loss"].item<double>()) << decoder;
    // Fine-tuning never builds it: the classifier loads the encoder and leaves the decoder's term.
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& p : biased.net()->named_parameters()) tensors[p.key()] = p.value();
    for (const auto& p : biased.net()->named_buffers()) tensors[p.key()] = p.value();
    GraphClassifier classifier(config, "{}", 2, 5, torch::kCPU);
    for (const auto& p : classifier.module().named_parameters())
      EXPECT_EQ(p.key().find("link_bias"), std::string::npos) << p.key();
    auto alone = distributed::make_local_communicator();
    EXPECT_EQ(classifier.load_pretrained(tensors, *alone), tensors.size() - 1);
  }
}

TEST(GraphTask, AttributeMaskingHidesOnlyTheDrawnOwnFlowsAndReconstructsTheirStatistics) {
  const auto flows = busy_flows();
  // Two parts with halos, so that some flow nodes are not own.
  const auto whole = datasets::build_flow_graphs(flows, {});
  ASSERT_EQ(whole.size(), 1u);
  const auto graphs = datasets::partition_flow_graph(whole[0], datasets::metis_parts(whole[0], 2, 5), 2, 2);
  const auto batch = batch_of(graphs, flows);
  const auto in = inputs(batch);
  const auto keys = sample_keys(3, 0, batch.sample_index);
  const auto drawn = draw_masked_flows(in, 0.2, keys);
  const auto own = in.flow_own;
  ASSERT_GT(own.logical_not().sum().item<std::int64_t>(), 0) << "the parts have halo nodes";
  EXPECT_EQ(drawn.logical_and(own.logical_not()).sum().item<std::int64_t>(), 0) << "a halo flow was masked";
  const double own_count = own.sum().item<double>();
  EXPECT_NEAR(drawn.sum().item<double>(), 0.2 * own_count, 0.05 * own_count + 5);
  EXPECT_TRUE(torch::equal(drawn, draw_masked_flows(in, 0.2, keys)));  // per sample key: any rank
  EXPECT_FALSE(torch::equal(drawn, draw_masked_flows(in, 0.2, sample_keys(4, 0, batch.sample_index))));

  const auto x = mask_flow_features(in.flow_x, drawn);
  constexpr std::int64_t s = datasets::kFlowStatistics;
  const auto rows = drawn.nonzero().squeeze(1), kept = drawn.logical_not().nonzero().squeeze(1);
  const auto hidden = x.index_select(0, rows);
  EXPECT_EQ(hidden.slice(1, 0, s).abs().max().item<float>(), 0.0f);              // no statistic
  EXPECT_EQ(hidden.slice(1, s, 2 * s).min().item<float>(), 1.0f);                // all missing
  EXPECT_EQ(hidden.slice(1, 2 * s, 2 * s + 5).abs().max().item<float>(), 0.0f);  // no protocol, no IPv6
  EXPECT_TRUE(torch::equal(hidden.slice(1, 2 * s + 5), in.flow_x.index_select(0, rows).slice(1, 2 * s + 5)));
  EXPECT_TRUE(torch::equal(x.index_select(0, kept), in.flow_x.index_select(0, kept)));
  EXPECT_GT(in.flow_x.index_select(0, rows).slice(1, 0, s).abs().max().item<float>(), 0.0f);

  // The task: the same seed gives the same encoder with and without masking; the reconstruction
  // term is mask_weight x (squared error) / scored pairs, and only it trains the decoder.
  auto config = small_config();
  GraphLinkTask plain(config, "{}", 4, torch::kCPU);
  config.mask = 0.2;
  config.mask_weight = 0.0;
  GraphLinkTask unweighted(config, "{}", 4, torch::kCPU);
  config.mask_weight = 2.0;
  GraphLinkTask weighted(config, "{}", 4, torch::kCPU);
  EXPECT_TRUE(plain.net()->mask_decoder.is_empty());
  ASSERT_FALSE(weighted.net()->mask_decoder.is_empty());
  for (auto* t : {&plain, &unweighted, &weighted}) t->model().train();
  EXPECT_TRUE(torch::equal(plain.net()->named_parameters()["layer0_sends.lin_l.weight"],
                           weighted.net()->named_parameters()["layer0_sends.lin_l.weight"]));
  auto a = plain.losses(batch), b = unweighted.losses(batch), c = weighted.losses(batch);
  EXPECT_NE(a["loss"].item<double>(), b["loss"].item<double>()) << "the link term sees the masked inputs";
  const double pairs = c["weight"].item<double>();
  ASSERT_GT(pairs, 0);
  ASSERT_GT(c["mask_mse"].item<double>(), 0);
  // The task (seed 4) draws with its own keys, from the batch's epoch and sample indices.
  const auto task_rows =
      draw_masked_flows(in, 0.2, sample_keys(4, batch.epoch, batch.sample_index)).nonzero().squeeze(1);
  const auto truth = in.flow_x.index_select(0, task_rows);
  const double present = (1.0 - truth.slice(1, s, 2 * s)).sum().item<double>();
  EXPECT_NEAR(c["loss"].item<double>() - b["loss"].item<double>(),
              2.0 * c["mask_mse"].item<double>() * present / pairs, 1e-5);
  b["loss"].backward();
  c["loss"].backward();
  EXPECT_FALSE(unweighted.net()->mask_decoder->weight.grad().defined() &&
               unweighted.net()->mask_decoder->weight.grad().abs().sum().item<double>() > 0);
  EXPECT_GT(weighted.net()->mask_decoder->weight.grad().abs().sum().item<double>(), 0);
}

}  // namespace
}  // namespace trafficfm::models
