#include "models/graph/graph_config.h"

#include "core/errors.h"
#include "core/json.h"

namespace trafficfm::models {

namespace po = core::po;

void add_graph_options(po::options_description& options) {
  po::options_description graph("Graph model [graph]");
  graph.add_options()("graph.hidden", po::value<std::int64_t>()->default_value(128), "width of every layer")(
      "graph.layers", po::value<std::int64_t>()->default_value(2),
      "heterogeneous SAGE layers (at most the corpus' halo depth); 0 (fine-tuning only): no message passing, "
      "the head sees a flow's own features (the no-graph MLP baseline)")(
      "graph.negative-slope", po::value<double>()->default_value(0.01), "leaky ReLU slope between layers")(
      "graph.supervision", po::value<double>()->default_value(0.15),
      "share of each edge type's edges held out of message passing as link-prediction targets")(
      "graph.encoding-dims", po::value<std::int64_t>()->default_value(30),
      "sinusoidal encoding of a flow's order in its slice and of an ip node's slice (even)")(
      "graph.decoder", po::value<std::string>()->default_value("dot"),
      "link-prediction decoder: dot (PPT-GNN's x_s . x_t) | distmult (x_s . diag(r_type) x_t, one learned "
      "vector per edge type)")(
      "graph.link-bias", po::value<bool>()->default_value(false),
      "add a learned linear term of each endpoint's embedding per edge type to the link decoder's logit "
      "(w_t . x_s + v_t . x_t: how likely a node is to have edges of the type)")(
      "graph.mask", po::value<double>()->default_value(0.0),
      "share of flow nodes per step whose features are hidden and reconstructed from their embedding beside "
      "link prediction (attribute masking); 0: link prediction alone")(
      "graph.mask-weight", po::value<double>()->default_value(1.0),
      "weight of a masked node's squared error (summed over its statistics) against one link pair's BCE");
  options.add(graph);
}

GraphConfig graph_config_from(const po::variables_map& values) {
  GraphConfig c;
  c.hidden = values["graph.hidden"].as<std::int64_t>();
  c.layers = values["graph.layers"].as<std::int64_t>();
  c.negative_slope = values["graph.negative-slope"].as<double>();
  c.supervision = values["graph.supervision"].as<double>();
  c.encoding_dims = values["graph.encoding-dims"].as<std::int64_t>();
  c.decoder = values["graph.decoder"].as<std::string>();
  c.link_bias = values["graph.link-bias"].as<bool>();
  c.mask = values["graph.mask"].as<double>();
  c.mask_weight = values["graph.mask-weight"].as<double>();
  if (!(c.mask >= 0 && c.mask < 1)) throw core::UsageError("--graph.mask must be in [0, 1)");
  if (!(c.mask_weight >= 0)) throw core::UsageError("--graph.mask-weight must be >= 0");
  if (c.decoder != "dot" && c.decoder != "distmult")
    throw core::UsageError("--graph.decoder must be dot or distmult, not '" + c.decoder + "'");
  if (c.hidden < 1 || c.layers < 0)
    throw core::UsageError("--graph.hidden must be >= 1, --graph.layers >= 0");
  if (!(c.supervision > 0 && c.supervision < 1))
    throw core::UsageError("--graph.supervision must be in (0, 1)");
  if (c.encoding_dims < 2 || c.encoding_dims % 2)
    throw core::UsageError("--graph.encoding-dims must be even, >= 2");
  return c;
}

std::string GraphConfig::to_json() const {
  return core::JsonObject()
      .set("hidden", hidden)
      .set("layers", layers)
      .set("negative_slope", negative_slope)
      .set("supervision", supervision)
      .set("encoding_dims", encoding_dims)
      .set("decoder", decoder)
      .set("link_bias", link_bias)
      .set("mask", mask)
      .set("mask_weight", mask_weight)
      .str();
}

}  // namespace trafficfm::models
