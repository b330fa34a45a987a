#include "models/lens/lens_generation_task.h"

#include "distributed/tensor_parallel_layers.h"
#include "distributed/vocab_parallel_loss.h"
#include "models/lens/next_packet.h"

namespace trafficfm::models {

LensGenerationTask::LensGenerationTask(const LensSettings& settings, distributed::ProcessGrid& grid,
                                       std::uint64_t seed, torch::Device device)
    : settings_(settings), grid_(grid), seed_(seed), device_(device) {
  torch::manual_seed(seed);
  model_ = std::make_shared<LensModel>(settings_.model, grid.tp());
  model_->to(device_);
}

std::map<std::string, torch::Tensor> LensGenerationTask::losses(const datasets::Batch& batch) {
  const auto ex = next_packet_examples(batch, device_);
  model_->dropout->start(seed_, batch.epoch, batch.sample_index);
  const auto logits = model_->forward(ex.input, ex.decoder_input);
  auto& tp = grid_.tp();
  const auto per_token = distributed::vocab_parallel_losses(logits.to(torch::kFloat), ex.target, tp);
  const auto count = ex.target_mask.sum().clamp_min(1.0);
  std::map<std::string, torch::Tensor> terms;
  terms["loss"] = (per_token.losses * ex.target_mask).sum() / count;
  terms["token_accuracy"] = (per_token.hits * ex.target_mask).sum() / count;
  terms["weight"] = torch::tensor(ex.target_tokens, torch::kDouble);
  last_flops_ = batch.filler ? 0.0
                             : 3.0 * static_cast<double>(batch.rows) *
                                   model_->forward_flops(ex.input.tokens.size(1), ex.target.size(1));
  return terms;
}

bool LensGenerationTask::no_weight_decay(const std::string& name) const { return lens_no_weight_decay(name); }

}  // namespace trafficfm::models
