// The graph model's configuration ([graph] section of configs/graph-*.ini): heterogeneous
// GraphSAGE sizes and the link-prediction objective. Defaults are PPT-GNN's (graph-base).
#pragma once
#include <cstdint>
#include <string>

#include "core/options.h"

namespace trafficfm::models {

struct GraphConfig {
  std::int64_t hidden = 128;        // width of every layer
  std::int64_t layers = 2;          // message-passing layers (the corpus' halo must be >= this)
  double negative_slope = 0.01;     // leaky ReLU between layers
  double supervision = 0.15;        // share of each edge type's edges held out per step
  std::int64_t encoding_dims = 30;  // sinusoidal encoding of a flow's order / an ip's slice
  // Link decoder: "dot" (PPT-GNN: x_s . x_t) or "distmult" (x_s . diag(r_type) x_t, a learned
  // vector per edge type, starting at 1: with L2-normalized embeddings a plain dot product
  // bounds the logit to [-1, 1] and asks every relation for the same similarity).
  std::string decoder = "dot";
  // Adds to each pair's logit a learned linear term of either endpoint's embedding per edge type,
  // w_type . x_s + v_type . x_t (zero at start): how likely a node is to have edges of the type at
  // all (a busy host, a flow's own endpoints), which a product of two L2-normalized embeddings
  // cannot express; the product is then left to say which pairs belong together.
  bool link_bias = false;
  // Share of own flow nodes per step whose statistics, missing bits, protocol and IP version are
  // hidden (as if every statistic were missing) and reconstructed from the node's final
  // embedding (Hu et al. 2020's attribute masking beside link prediction); 0: link prediction
  // alone, PPT-GNN's objective.
  double mask = 0.0;
  // Weight of one masked node's squared error (summed over its present statistics) against
  // one scored pair's BCE: the loss is (sum of BCE + mask_weight * sum of squared errors) /
  // scored pairs, so dp ranks average exactly as one rank would.
  double mask_weight = 1.0;
  std::string to_json() const;
};

void add_graph_options(core::po::options_description& options);
// Throws core::UsageError on a value out of range.
GraphConfig graph_config_from(const core::po::variables_map& values);

}  // namespace trafficfm::models
