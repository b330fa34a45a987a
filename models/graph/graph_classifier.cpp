#include "models/graph/graph_classifier.h"

#include <stdexcept>

#include "core/errors.h"
#include "models/graph/graph_task.h"

namespace trafficfm::models {

NodeLabels graph_node_labels() { return {"flow_label", "flow_split", "flow_target"}; }

GraphClassifierNet::GraphClassifierNet(const GraphConfig& config, std::int64_t classes) {
  encoder = register_module("encoder", HeteroSage(config));
  const std::int64_t in = config.layers > 0 ? config.hidden : flow_feature_dims(config.encoding_dims);
  const auto slope = torch::nn::LeakyReLUOptions().negative_slope(config.negative_slope);
  head = register_module(
      "head", torch::nn::Sequential(torch::nn::Linear(in, config.hidden), torch::nn::LeakyReLU(slope),
                                    torch::nn::Linear(config.hidden, config.hidden),
                                    torch::nn::LeakyReLU(slope), torch::nn::Linear(config.hidden, classes)));
}

GraphClassifier::GraphClassifier(const GraphConfig& config, const std::string& corpus_settings,
                                 std::int64_t classes, std::uint64_t seed, torch::Device device)
    : config_(config), device_(device) {
  // Attribute masking's decoder and the link decoder's linear term are pretraining's alone: never
  // built, never loaded.
  config_.mask = 0;
  config_.link_bias = false;
  torch::manual_seed(seed);  // the head's (and a from-scratch encoder's) initialization
  net_ = std::make_shared<GraphClassifierNet>(config_, classes);
  const auto [lo, hi] = feature_ranges(corpus_settings);
  {
    torch::NoGradGuard no_grad;
    net_->encoder->log1p_min.copy_(lo);
    net_->encoder->log1p_max.copy_(hi);
  }
  // The last layer's convolutions into ip nodes shape no flow embedding, nor does the link
  // decoder: they take no part in fine-tuning (and would leave the gradient reducer parameters
  // without a gradient).
  if (config_.layers > 0) {
    for (const auto& rel : kRelationList) {
      if (rel.target() != datasets::NodeType::kIp) continue;
      const std::string prefix = "encoder.layer" + std::to_string(config_.layers - 1) + "_" +
                                 datasets::kEdgeTypeNames[static_cast<int>(rel.type)] +
                                 (rel.reversed ? "_rev" : "") + ".";
      for (auto& p : net_->named_parameters()) {
        if (p.key().rfind(prefix, 0) == 0) p.value().set_requires_grad(false);
      }
    }
  }
  if (net_->encoder->link_relation.defined()) net_->encoder->link_relation.set_requires_grad(false);
  net_->to(device_);
}

ClassifierOutput GraphClassifier::forward(const datasets::Batch& batch) {
  auto& encoder = net_->encoder;
  const auto in =
      collate_graphs(batch, encoder->log1p_min, encoder->log1p_max, config_.encoding_dims, device_);
  const auto flow_h = encoder->forward(in.flow_x, in.ip_x, in.edges).first;
  const auto rows = in.flow_target.nonzero().squeeze(1);
  // Each row's unit: its sample (the batch row whose node range holds it) and its node there.
  const auto rows_cpu = rows.cpu();
  const auto begins = torch::tensor(in.flow_begin, torch::kInt64);
  const auto batch_row = torch::searchsorted(begins, rows_cpu, /*out_int32=*/false, /*right=*/true) - 1;
  const auto samples = torch::tensor(
      std::vector<std::int64_t>(batch.sample_index.begin(), batch.sample_index.end()), torch::kInt64);
  const auto units = samples.index_select(0, batch_row) * (std::int64_t{1} << 32) +
                     (rows_cpu - begins.index_select(0, batch_row));
  return {net_->head->forward(flow_h.index_select(0, rows)), in.flow_label.index_select(0, rows), units};
}

int GraphClassifier::layer_of(const std::string& name) const {
  const std::string prefix = "encoder.layer";
  if (name.rfind(prefix, 0) == 0) return std::stoi(name.substr(prefix.size())) + 1;
  return layers() + 1;  // the head
}

std::size_t GraphClassifier::load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                                             distributed::Communicator&) {
  torch::NoGradGuard no_grad;
  std::size_t loaded = 0;
  auto take = [&](const std::string& name, torch::Tensor& to) {
    // A link-prediction checkpoint names the encoder's tensors without a prefix; a fine-tuned
    // classifier's model.pt with "encoder.".
    auto it = tensors.find(name);
    if (it == tensors.end()) it = tensors.find("encoder." + name);
    if (it == tensors.end())
      throw std::runtime_error("graph: the pretrained weights lack '" + name + "' (another model or size?)");
    if (it->second.sizes() != to.sizes()) {
      throw std::runtime_error("graph: pretrained '" + name + "' has shape " + c10::str(it->second.sizes()) +
                               ", this model " + c10::str(to.sizes()) + " (another --graph.* size?)");
    }
    to.copy_(it->second);
    ++loaded;
  };
  for (auto& p : net_->encoder->named_parameters()) take(p.key(), p.value());
  for (auto& b : net_->encoder->named_buffers()) take(b.key(), b.value());
  return loaded;
}

void GraphClassifier::freeze(const std::string& what) {
  if (what == "none") return;
  if (what != "encoder") {
    throw core::UsageError("--finetune.freeze for the graph model is none or encoder, not '" + what +
                           "' (it has no embedding table)");
  }
  for (auto& p : net_->encoder->parameters()) p.set_requires_grad(false);
}

}  // namespace trafficfm::models
