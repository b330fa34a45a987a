// The graph model fine-tuned for flow classification (a Classifier whose rows are nodes): the
// pretraining encoder (HeteroSage; its names under "encoder.", loaded from a link-prediction
// checkpoint by its own names) and PPT-GNN's head on each classified flow node's embedding,
// 2 x (Linear hidden + leaky ReLU) + Linear classes. The rows are the flow nodes marked
// flow_target (each flow's own copy in its last slice), named by label_unit(sample, node).
// With --graph.layers 0 there is no message passing: the head sees the flow's own features (the
// no-graph MLP baseline, trained by the same stage on the same labelled flows). The last layer's
// convolutions into ip nodes reach no flow embedding and are not trained.
#pragma once
#include <memory>

#include "models/finetune/classifier.h"
#include "models/finetune/label_plan.h"
#include "models/graph/hetero_sage.h"

namespace trafficfm::models {

struct GraphClassifierNet : torch::nn::Module {
  GraphClassifierNet(const GraphConfig& config, std::int64_t classes);
  HeteroSage encoder{nullptr};
  torch::nn::Sequential head{nullptr};
};

class GraphClassifier : public Classifier {
 public:
  // `corpus_settings`: the fine-tuning corpus's encoder settings (its feature ranges, used from
  // scratch; a pretrained encoder brings the ranges it was trained with).
  GraphClassifier(const GraphConfig& config, const std::string& corpus_settings, std::int64_t classes,
                  std::uint64_t seed, torch::Device device);
  torch::nn::Module& module() override { return *net_; }
  ClassifierOutput forward(const datasets::Batch& batch) override;
  int layer_of(const std::string& name) const override;
  int layers() const override { return static_cast<int>(config_.layers); }
  bool no_weight_decay(const std::string&) const override { return false; }
  std::size_t load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                              distributed::Communicator& tp) override;
  // none | encoder (a linear probe on the frozen encoder). The graph model has no embedding
  // table, so `embed` is refused.
  void freeze(const std::string& what) override;
  std::string config_json() const override { return config_.to_json(); }

 private:
  GraphConfig config_;
  torch::Device device_;
  std::shared_ptr<GraphClassifierNet> net_;
};

// The graph corpus's per-node label columns.
NodeLabels graph_node_labels();

}  // namespace trafficfm::models
