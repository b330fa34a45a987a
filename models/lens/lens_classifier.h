// Lens fine-tuned for classification: the pretraining model's embeddings and encoder (same
// parameter names, so a pretraining checkpoint loads by name, at any tp) and a linear head on
//  - encoder (default): the mean of the encoder states over the non-padding tokens;
//  - decoder (--lens.head decoder): the decoder's first state, the decoder fed only its start
//    token (<pad>) and attending to the encoder, as T5 classifies from a decoder output.
// The input is the corpus sample as stored (no corruption, no rearranging).
#pragma once
#include <memory>

#include "distributed/communicator.h"
#include "models/finetune/classifier.h"
#include "models/lens/lens_config.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

struct LensClassifierNet : LensModel {
  LensClassifierNet(const LensSettings& settings, std::int64_t classes, distributed::Communicator& tp);
  torch::nn::Linear head{nullptr};
};

class LensClassifier : public Classifier {
 public:
  LensClassifier(const LensSettings& settings, std::int64_t classes, distributed::Communicator& tp,
                 std::uint64_t seed, torch::Device device);
  torch::nn::Module& module() override { return *net_; }
  ClassifierOutput forward(const datasets::Batch& batch) override;
  int layer_of(const std::string& name) const override;
  int layers() const override;
  bool no_weight_decay(const std::string& name) const override;
  bool embedding_parameter(const std::string& name) const override { return lens_embedding_parameter(name); }
  std::size_t load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                              distributed::Communicator& tp) override;
  void freeze(const std::string& what) override;
  double flops_per_sample() const override;
  std::string config_json() const override { return settings_.to_json(); }

 private:
  bool uses_decoder() const { return settings_.head == "decoder"; }
  LensSettings settings_;
  std::uint64_t seed_;
  torch::Device device_;
  std::shared_ptr<LensClassifierNet> net_;
  std::int64_t width_ = 0;  // the corpus's tokens per sample, seen at the first batch
};

}  // namespace trafficfm::models
