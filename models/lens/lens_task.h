// Lens pretraining as a trainer Task: L = L_MSP + pop_weight · L_POP + htp_weight · L_HTP.
//  - L_MSP: cross-entropy of the decoder over the span-corruption target, a mean over target
//    tokens (vocabulary-parallel, padding ignored). The micro-batch's weight is its target
//    tokens, so the step's MSP loss is the mean over every target token of the global batch.
//  - L_POP: binary cross-entropy of a linear head on the encoder states at the first 3 <pkt>
//    tokens (is packet i in its original place), over the POP samples' packets.
//  - L_HTP: binary cross-entropy of a linear head on the encoder state at </s> (are the two
//    halves one flow), over the HTP samples.
// Each term is a mean over its own examples in the global batch (Task::loss_terms: the trainer
// counts target tokens, POP packets and HTP pairs over every micro-batch and dp rank before the
// forward passes), so a micro-batch without a POP example weighs nothing in POP. HTP's
// negatives pair samples of one rank's micro-batch, so dp 2 does not draw the same negative
// pairs as dp 1. Every other draw is per sample (lens_batch.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/trainer/task.h"
#include "distributed/process_grid.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_config.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

// The pretraining network: Lens's T5 (Hugging Face names at the top level) plus the two
// packet-level heads, replicated across tp.
struct LensPretrainModel : LensModel {
  LensPretrainModel(const LensSettings& settings, distributed::Communicator& tp);
  torch::nn::Linear pop_head{nullptr}, htp_head{nullptr};
};

class LensTask : public core::Task {
 public:
  LensTask(const LensSettings& settings, distributed::ProcessGrid& grid, std::uint64_t seed,
           torch::Device device);
  torch::nn::Module& model() override { return *model_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override;
  std::map<std::string, double> loss_terms() const override;
  std::map<std::string, double> term_weights(const datasets::Batch& batch) override;
  bool no_weight_decay(const std::string& name) const override;
  bool embedding_parameter(const std::string& name) const override { return lens_embedding_parameter(name); }
  double flops_per_sample() const override;
  double tokens_per_sample() const override;
  double batch_flops(const datasets::Batch& batch) const override;
  double batch_tokens(const datasets::Batch& batch) const override;
  std::string config_json() const override { return settings_.to_json(); }
  LensPretrainModel& network() { return *model_; }

 private:
  LensSettings settings_;
  distributed::ProcessGrid& grid_;
  std::uint64_t seed_;
  torch::Device device_;
  std::shared_ptr<LensPretrainModel> model_;
  // Examples built by term_weights(), taken by the losses() call of the same batch (built
  // once per batch; a batch seen only by losses() builds its own).
  struct Prepared {
    std::string role;
    std::uint64_t epoch = 0, step = 0;
    bool filler = false;
    std::vector<std::uint64_t> sample_index;
    std::shared_ptr<LensExamples> examples;
  };
  std::vector<Prepared> prepared_;
  std::shared_ptr<LensExamples> examples_of(const datasets::Batch& batch, bool keep);
  // What the last losses() call saw, for batch_flops / batch_tokens.
  double last_flops_ = 0, last_tokens_ = 0;
};

}  // namespace trafficfm::models
