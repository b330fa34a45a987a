#include "models/lens/lens_task.h"

#include "distributed/tensor_parallel_layers.h"
#include "distributed/vocab_parallel_loss.h"
#include "models/lens/lens_batch.h"

namespace trafficfm::models {

namespace F = torch::nn::functional;

LensPretrainModel::LensPretrainModel(const LensSettings& settings, distributed::Communicator& tp)
    : LensModel(settings.model, tp) {
  if (settings.objective.pop) pop_head = register_module("pop_head", torch::nn::Linear(config.d_model, 1));
  if (settings.objective.htp) htp_head = register_module("htp_head", torch::nn::Linear(config.d_model, 1));
}

LensTask::LensTask(const LensSettings& settings, distributed::ProcessGrid& grid, std::uint64_t seed,
                   torch::Device device)
    : settings_(settings), grid_(grid), seed_(seed), device_(device) {
  // The same initial weights on every rank and at every tp (layers draw full shapes, then slice).
  torch::manual_seed(seed);
  model_ = std::make_shared<LensPretrainModel>(settings_, grid.tp());
  if (!settings_.objective.msp) {
    // Without MSP nothing reads the decoder or the LM head: they are left out of training
    // (the gradient sync would otherwise wait for gradients that never come).
    for (auto& p : model_->named_parameters()) {
      if (p.key().rfind("decoder.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0)
        p.value().set_requires_grad(false);
    }
  }
  model_->to(device_);
}

namespace {
// Masked mean of per-element losses; 0 (with a gradient path) when the mask is empty.
torch::Tensor masked_mean(const torch::Tensor& values, const torch::Tensor& mask) {
  return (values * mask).sum() / mask.sum().clamp_min(1.0);
}
}  // namespace

std::map<std::string, torch::Tensor> LensTask::losses(const datasets::Batch& batch) {
  const LensObjective& objective = settings_.objective;
  const LensExamples ex = lens_examples(batch, objective, seed_, device_);
  auto& tp = grid_.tp();
  model_->dropout->start(seed_, batch.epoch, batch.sample_index);
  const auto memory = model_->encode(ex.input);
  std::map<std::string, torch::Tensor> terms;
  auto loss = torch::zeros({}, memory.options());
  if (objective.msp) {
    const auto logits = model_->decode(memory, ex.input.padding, ex.decoder_input);
    const auto per_token = distributed::vocab_parallel_losses(logits.to(torch::kFloat), ex.target, tp);
    terms["msp"] = masked_mean(per_token.losses, ex.target_mask);
    terms["msp_accuracy"] = masked_mean(per_token.hits, ex.target_mask);
    loss = loss + terms["msp"];
  }
  const auto d = memory.size(-1);
  if (objective.pop) {
    const auto states = memory.gather(1, ex.pop_position.unsqueeze(-1).expand({-1, -1, d}));
    const auto logits = model_->pop_head->forward(states).squeeze(-1).to(torch::kFloat);  // [B, 3]
    const auto bce = F::binary_cross_entropy_with_logits(
        logits, ex.pop_label, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    terms["pop"] = masked_mean(bce, ex.pop_mask);
    terms["pop_accuracy"] =
        masked_mean(((logits > 0).to(torch::kFloat) == ex.pop_label).to(torch::kFloat).detach(), ex.pop_mask);
    loss = loss + objective.pop_weight * terms["pop"];
  }
  if (objective.htp) {
    const auto states = memory.gather(1, ex.eos_position.view({-1, 1, 1}).expand({-1, 1, d})).squeeze(1);
    const auto logits = model_->htp_head->forward(states).squeeze(-1).to(torch::kFloat);  // [B]
    const auto bce = F::binary_cross_entropy_with_logits(
        logits, ex.htp_label, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    terms["htp"] = masked_mean(bce, ex.htp_mask);
    terms["htp_accuracy"] =
        masked_mean(((logits > 0).to(torch::kFloat) == ex.htp_label).to(torch::kFloat).detach(), ex.htp_mask);
    loss = loss + objective.htp_weight * terms["htp"];
  }
  terms["loss"] = loss;
  // Token-weighted across micro-batches and ranks; without MSP, sample-weighted.
  const double weight =
      objective.msp ? ex.target_tokens : (batch.filler ? 0.0 : static_cast<double>(batch.rows));
  terms["weight"] = torch::tensor(weight, torch::kDouble);
  const auto rows = batch.filler ? 0.0 : static_cast<double>(batch.rows);
  last_flops_ =
      3.0 * rows * model_->forward_flops(ex.input.tokens.size(1), objective.msp ? ex.target.size(1) : 0);
  last_tokens_ = ex.source_tokens;
  return terms;
}

bool LensTask::no_weight_decay(const std::string& name) const { return lens_no_weight_decay(name); }

double LensTask::tokens_per_sample() const { return 0.0; }  // counted per batch (batch_tokens)
double LensTask::flops_per_sample() const { return 0.0; }   // counted per batch (batch_flops)
double LensTask::batch_flops(const datasets::Batch& /*batch*/) const { return last_flops_; }
double LensTask::batch_tokens(const datasets::Batch& /*batch*/) const { return last_tokens_; }

}  // namespace trafficfm::models
