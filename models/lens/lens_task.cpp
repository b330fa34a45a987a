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

std::shared_ptr<LensExamples> LensTask::examples_of(const datasets::Batch& batch, bool keep) {
  for (auto it = prepared_.begin(); it != prepared_.end(); ++it) {
    if (it->role == batch.role && it->epoch == batch.epoch && it->step == batch.step &&
        it->filler == batch.filler && it->sample_index == batch.sample_index) {
      auto examples = it->examples;
      if (!keep) prepared_.erase(it);
      return examples;
    }
  }
  auto examples = std::make_shared<LensExamples>(lens_examples(batch, settings_.objective, seed_, device_));
  if (keep) {
    // A step holds its accumulation's batches; more than that is a caller that counted
    // batches it never trained on: the oldest go.
    constexpr std::size_t kMaxPrepared = 256;
    if (prepared_.size() >= kMaxPrepared) prepared_.erase(prepared_.begin());
    prepared_.push_back({batch.role, batch.epoch, batch.step, batch.filler, batch.sample_index, examples});
  }
  return examples;
}

std::map<std::string, double> LensTask::loss_terms() const {
  const LensObjective& objective = settings_.objective;
  std::map<std::string, double> terms;
  if (objective.msp) terms["msp"] = 1.0;
  if (objective.pop) terms["pop"] = objective.pop_weight;
  if (objective.htp) terms["htp"] = objective.htp_weight;
  return terms;
}

std::map<std::string, double> LensTask::term_weights(const datasets::Batch& batch) {
  const auto ex = examples_of(batch, /*keep=*/true);
  std::map<std::string, double> counts;
  if (settings_.objective.msp) counts["msp"] = ex->target_tokens;
  if (settings_.objective.pop) counts["pop"] = ex->pop_examples;
  if (settings_.objective.htp) counts["htp"] = ex->htp_examples;
  return counts;
}

std::map<std::string, torch::Tensor> LensTask::losses(const datasets::Batch& batch) {
  const LensObjective& objective = settings_.objective;
  const auto prepared = examples_of(batch, /*keep=*/false);
  const LensExamples& ex = *prepared;
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
  terms["loss"] = loss;  // this micro-batch's; the trainer weighs each term by its counts
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
