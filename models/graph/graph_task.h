// The graph model's pretraining as a trainer Task: link prediction on every edge type
// (link_prediction.h), dot-product decoder, binary cross-entropy over positives and
// negatives. The loss is a per-pair mean: the batch's weight is its scored pairs, so dp
// ranks with graphs of different sizes average exactly as one rank would. Val logs link AUC
// (from a 1,024-bin score histogram summed over dp).
#pragma once
#include <memory>

#include "core/trainer/task.h"
#include "distributed/process_grid.h"
#include "models/graph/attribute_masking.h"
#include "models/graph/hetero_sage.h"
#include "models/graph/link_prediction.h"

namespace trafficfm::models {

class GraphLinkTask : public core::Task {
 public:
  // `corpus_settings`: the corpus manifest's encoder settings (feature ranges).
  GraphLinkTask(const GraphConfig& config, const std::string& corpus_settings, std::uint64_t seed,
                torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override;
  void begin_eval() override;
  std::map<std::string, double> end_eval(distributed::Communicator& dp) override;
  double batch_flops(const datasets::Batch& batch) const override;
  std::string flops_rates() const override;
  // The graph model's unit of work is the edge: metrics' tokens_per_s is edges/s here (all
  // stored edges of the batch's graphs; --train.tokens is refused for a size-batched model).
  double batch_tokens(const datasets::Batch& batch) const override;
  std::string config_json() const override { return config_.to_json(); }
  HeteroSage& net() { return model_; }

 private:
  GraphConfig config_;
  std::uint64_t seed_;
  torch::Device device_;
  HeteroSage model_{nullptr};
  torch::Tensor histogram_;  // [2, bins]: negatives, positives by sigmoid score (val)
};

// The train split's log1p ranges from a graph corpus' encoder settings, as [39] tensors.
std::pair<torch::Tensor, torch::Tensor> feature_ranges(const std::string& corpus_settings);
// Area under the ROC curve from per-bin counts [2, bins] (ties within a bin count half).
double histogram_auc(const torch::Tensor& histogram);

}  // namespace trafficfm::models
