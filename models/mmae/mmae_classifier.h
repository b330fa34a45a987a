// MMAE fine-tuned for classification: the pretraining encoder (same parameter names,
// "encoder.*", so a pretraining checkpoint loads by name) and a linear head on the cls token's
// normalized feature. Drop-path as in pretraining, at the fine-tuning rate.
#pragma once
#include <memory>

#include "distributed/communicator.h"
#include "models/finetune/classifier.h"
#include "models/mmae/mmae_config.h"
#include "models/mmae/mmae_net.h"

namespace trafficfm::models {

struct MmaeClassifierNet : torch::nn::Module {
  MmaeClassifierNet(const MmaeConfig& config, std::int64_t classes, distributed::Communicator& tp);
  std::shared_ptr<MmaeEncoder> encoder;
  torch::nn::Linear head{nullptr};
};

class MmaeClassifier : public Classifier {
 public:
  MmaeClassifier(const MmaeConfig& config, std::int64_t classes, distributed::Communicator& tp,
                 std::uint64_t seed, torch::Device device);
  torch::nn::Module& module() override { return *net_; }
  ClassifierOutput forward(const datasets::Batch& batch) override;
  int layer_of(const std::string& name) const override;
  int layers() const override { return static_cast<int>(config_.depth); }
  bool no_weight_decay(const std::string& name) const override;
  bool embedding_parameter(const std::string& name) const override { return mmae_embedding_parameter(name); }
  std::size_t load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                              distributed::Communicator& tp) override;
  void freeze(const std::string& what) override;
  double flops_per_sample() const override;
  std::string config_json() const override { return config_.to_json(); }

 private:
  MmaeConfig config_;
  std::uint64_t seed_;
  torch::Device device_;
  torch::Tensor token_packet_;
  std::shared_ptr<MmaeClassifierNet> net_;
};

}  // namespace trafficfm::models
