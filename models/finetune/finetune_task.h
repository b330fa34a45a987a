// Fine-tuning as a trainer Task, for any Classifier: cross-entropy with label smoothing over
// the plan's classes, on the rows whose units are the plan's units of the batch's role (other
// labels, other splits' nodes and unchosen nodes are left out; a batch weighs its kept units), layer-wise
// learning-rate decay (the head at the full rate, each layer below times `layer_decay`), and model selection:
// at every evaluation the val macro-F1 is computed from all of val's predictions (summed over dp), and the
// best model's weights are kept (and checkpointed) to be restored at the end.
#pragma once
#include <memory>
#include <vector>

#include "core/classification_report.h"
#include "core/trainer/task.h"
#include "models/finetune/classifier.h"
#include "models/finetune/label_plan.h"

namespace trafficfm::models {

struct FinetuneOptions {
  double label_smoothing = 0.1;
  double layer_decay = 0.75;
};

class FinetuneTask : public core::Task {
 public:
  // `best` is a second classifier of the same architecture and layout: it holds the weights of
  // the best evaluation so far, and is checkpointed with them, so a resumed run selects as if
  // it had never stopped.
  FinetuneTask(Classifier& classifier, Classifier& best, const LabelPlan& plan, FinetuneOptions options,
               torch::Device device);
  torch::nn::Module& model() override { return classifier_.module(); }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override;
  bool no_weight_decay(const std::string& name) const override { return classifier_.no_weight_decay(name); }
  double lr_scale(const std::string& name) const override;
  void begin_eval() override;
  std::map<std::string, double> end_eval(distributed::Communicator& dp) override;
  void after_eval(std::uint64_t step, const std::map<std::string, double>& metrics) override;
  std::vector<std::pair<std::string, torch::nn::Module*>> checkpoint_modules() override;
  double flops_per_sample() const override { return classifier_.flops_per_sample(); }
  bool embedding_parameter(const std::string& name) const override {
    return classifier_.embedding_parameter(name);
  }
  std::string config_json() const override;

  // Collects predictions of `batch` into the running confusion matrix (no gradients).
  void observe(const datasets::Batch& batch);
  // The confusion matrix since begin_eval(), summed over `dp`.
  core::ClassificationReport report(distributed::Communicator& dp) const;
  // Puts the weights of the best evaluation back (false: none happened, weights unchanged).
  bool restore_best();
  double best_val_macro_f1() const { return selection_->score.item<double>(); }
  std::uint64_t best_step() const {
    return static_cast<std::uint64_t>(selection_->step.item<std::int64_t>());
  }

 private:
  torch::Tensor class_of(const torch::Tensor& corpus_labels) const;
  // bool [N] (CPU): which of the rows' units are the plan's units of `role`.
  torch::Tensor in_plan(const torch::Tensor& units, const std::string& role) const;
  Classifier& classifier_;
  LabelPlan plan_;
  FinetuneOptions options_;
  torch::Device device_;
  torch::Tensor corpus_to_class_;  // [corpus labels + 1]: index 0 is "no label"
  torch::Tensor confusion_;        // [K, K] double, true x predicted
  // Model selection's state, as buffers so that checkpoints hold it.
  struct Selection : torch::nn::Module {
    Selection();
    torch::Tensor score;  // best val macro-F1 so far; -1: no evaluation yet
    torch::Tensor step;
  };
  Classifier& best_;
  std::shared_ptr<Selection> selection_ = std::make_shared<Selection>();
};

}  // namespace trafficfm::models
