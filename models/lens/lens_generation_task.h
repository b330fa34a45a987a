// Lens fine-tuned for next-packet generation (models/lens/next_packet.h) as a trainer Task: the
// whole T5 (Hugging Face names, so a pretraining checkpoint or an HF directory loads by name)
// trained with the decoder's cross-entropy over packet K's header tokens; a micro-batch weighs
// its target tokens. Logged: loss and token_accuracy.
#pragma once
#include <memory>

#include "core/trainer/task.h"
#include "distributed/process_grid.h"
#include "models/lens/lens_config.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

class LensGenerationTask : public core::Task {
 public:
  LensGenerationTask(const LensSettings& settings, distributed::ProcessGrid& grid, std::uint64_t seed,
                     torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override;
  bool no_weight_decay(const std::string& name) const override;
  bool embedding_parameter(const std::string& name) const override { return lens_embedding_parameter(name); }
  double batch_flops(const datasets::Batch& batch) const override { return last_flops_; }
  std::string config_json() const override { return settings_.to_json(); }
  LensModel& network() { return *model_; }

 private:
  LensSettings settings_;
  distributed::ProcessGrid& grid_;
  std::uint64_t seed_;
  torch::Device device_;
  std::shared_ptr<LensModel> model_;
  double last_flops_ = 0;
};

}  // namespace trafficfm::models
