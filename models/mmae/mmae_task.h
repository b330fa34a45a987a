// MMAE pretraining as a trainer Task. Loss = L_rec + L_distill + rank_weight · L_rank:
//  - L_rec: MSE of the un-mixed reconstruction over all 400 tokens (MMAE's code);
//  - L_distill: 1 - cosine between the student's and the EMA teacher's per-token normalized
//    decoder features; the teacher sees the clean flow and follows the student every step
//    with a momentum rising on a cosine from ema_start to ema_end;
//  - L_rank: PMP's pairwise ranking loss against the real per-token error.
// Masks: random per flow at first; from hard_mask_start on, a growing share (up to
// hard_mask_max at the end) of the masked tokens are those PMP predicts hardest (the teacher's
// prediction on the clean flow). This is the paper's intent; the released code never passes
// the epoch that would enable it, so its masks stay random. All randomness is per sample
// (models/common/sample_random.h).
#pragma once
#include <memory>

#include "core/trainer/task.h"
#include "distributed/process_grid.h"
#include "models/mmae/flowmix.h"
#include "models/mmae/mmae_model.h"

namespace trafficfm::models {

class MmaeTask : public core::Task {
 public:
  MmaeTask(const MmaeConfig& config, distributed::ProcessGrid& grid, std::uint64_t seed,
           torch::Device device);
  torch::nn::Module& model() override { return *student_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override;
  void begin_step(std::uint64_t step, std::uint64_t total_steps) override;
  void end_step() override;
  std::vector<std::pair<std::string, torch::nn::Module*>> checkpoint_modules() override;
  bool no_weight_decay(const std::string& name) const override;
  bool embedding_parameter(const std::string& name) const override { return mmae_embedding_parameter(name); }
  double flops_per_sample() const override;
  double batch_flops(const datasets::Batch& batch) const override;
  double tokens_per_sample() const override { return MmaeConfig::kTokens; }
  std::string config_json() const override { return config_.to_json(); }

  double hard_mask_share() const { return hard_share_; }
  double teacher_momentum() const { return momentum_; }
  MmaeModel& student() { return *student_; }

 private:
  torch::Tensor choose_mask(const MmaeInputs& in, const torch::Tensor& predicted_loss) const;

  MmaeConfig config_;
  std::uint64_t seed_;
  torch::Device device_;
  torch::Tensor token_packet_;
  std::shared_ptr<MmaeModel> student_, teacher_;
  std::shared_ptr<FlowStatsEncoder> stats_encoder_;
  double hard_share_ = 0, momentum_ = 0;
};

}  // namespace trafficfm::models
