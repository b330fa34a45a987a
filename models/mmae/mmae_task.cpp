#include "models/mmae/mmae_task.h"

#include <cmath>

#include "distributed/multi_tensor.h"
#include "models/common/sample_random.h"

namespace trafficfm::models {

namespace F = torch::nn::functional;

namespace {
constexpr std::uint64_t kMaskStream = 1, kPairStream = 2, kDropPathStream = 100;

torch::Tensor per_token_normalized(const torch::Tensor& x) {
  return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).eps(1e-6));
}
}  // namespace

MmaeTask::MmaeTask(const MmaeConfig& config, distributed::ProcessGrid& grid, std::uint64_t seed,
                   torch::Device device)
    : config_(config), seed_(seed), device_(device), token_packet_(token_packet_index(config.patch)) {
  // The same initial weights on every rank and at every tp (layers draw full shapes, then slice).
  torch::manual_seed(seed);
  student_ = std::make_shared<MmaeModel>(config_, grid.tp());
  if (config_.teacher) {
    teacher_ = std::make_shared<MmaeModel>(config_, grid.tp());
    torch::NoGradGuard no_grad;
    const auto source = student_->parameters();
    auto target = teacher_->parameters();
    for (std::size_t i = 0; i < target.size(); ++i) {
      target[i].copy_(source[i]);
      target[i].set_requires_grad(false);
    }
    teacher_->eval();
  }
  if (config_.flowmix)
    stats_encoder_ = std::make_shared<FlowStatsEncoder>(MmaeConfig::kStatistics, config_.stats_dim);
  student_->to(device_);
  if (teacher_) teacher_->to(device_);
  if (stats_encoder_) stats_encoder_->to(device_);
}

void MmaeTask::begin_step(std::uint64_t step, std::uint64_t total_steps) {
  const double progress =
      total_steps > 0 ? static_cast<double>(step) / static_cast<double>(total_steps) : 0.0;
  momentum_ =
      config_.ema_end - (config_.ema_end - config_.ema_start) * (std::cos(M_PI * progress) + 1.0) / 2.0;
  hard_share_ = 0;
  if (config_.pmp && progress >= config_.hard_mask_start && config_.hard_mask_start < 1.0) {
    hard_share_ =
        config_.hard_mask_max * (progress - config_.hard_mask_start) / (1.0 - config_.hard_mask_start);
  }
}

void MmaeTask::end_step() {
  if (!teacher_) return;
  torch::NoGradGuard no_grad;
  const auto source = student_->parameters();
  auto target = teacher_->parameters();
  // All tensors at once on a GPU (few launches); tensor by tensor on CPU (cache): same bits.
  distributed::ema_update(target, source, momentum_, /*foreach=*/device_.is_cuda());
}

torch::Tensor MmaeTask::choose_mask(const MmaeInputs& in, const torch::Tensor& predicted_loss) const {
  const std::int64_t tokens = MmaeConfig::kTokens;
  const auto keep = static_cast<std::int64_t>(std::llround(tokens * (1.0 - config_.mask_ratio)));
  auto noise = per_sample_uniform(in.keys, tokens, kMaskStream, device_);
  const auto hard = static_cast<std::int64_t>((tokens - keep) * std::min(1.0, hard_share_));
  if (hard > 0 && predicted_loss.defined()) {
    // The tokens predicted hardest are masked first: lift them above every random draw.
    const auto top = std::get<1>(predicted_loss.detach().topk(hard, 1));
    noise.scatter_add_(1, top, torch::full(top.sizes(), 10.0f, noise.options()));
  }
  const auto order = noise.argsort(/*dim=*/static_cast<std::int64_t>(1), false);
  const auto rank = order.argsort(static_cast<std::int64_t>(1), false);
  return (rank >= keep).to(torch::kFloat);
}

std::map<std::string, torch::Tensor> MmaeTask::losses(const datasets::Batch& batch) {
  const bool training = student_->is_training();
  const MmaeInputs in = mmae_inputs(batch, token_packet_, seed_, device_);
  const auto target = patchify(in.payload, config_.patch);
  MmaeOutput teacher_out;
  torch::Tensor hardness;
  if (teacher_) {
    torch::NoGradGuard no_grad;
    teacher_out = teacher_->clean(in);
    hardness = teacher_out.predicted_loss;
  } else if (config_.pmp && hard_share_ > 0) {
    torch::NoGradGuard no_grad;
    hardness = student_->clean(in).predicted_loss;
  }
  const auto mask = choose_mask(in, hardness);
  torch::Tensor partner;
  if (stats_encoder_) {
    torch::NoGradGuard no_grad;
    stats_encoder_->train(training);
    partner = mutual_best_pairs(stats_encoder_->forward(in.stats)).to(device_);
  }
  const auto keep =
      training ? block_drop_path_scales(in.keys, config_.depth, config_.drop_path, kDropPathStream, device_)
               : std::vector<torch::Tensor>{};
  const MmaeOutput out = student_->masked(in, mask, partner, keep);
  const auto per_token = (out.reconstruction - target).pow(2).mean(-1);  // [B, 400]
  std::map<std::string, torch::Tensor> terms;
  terms["rec"] = per_token.mean();
  auto loss = terms["rec"];
  if (teacher_) {
    const auto cosine =
        F::cosine_similarity(per_token_normalized(out.features), per_token_normalized(teacher_out.features),
                             F::CosineSimilarityFuncOptions().dim(-1));
    terms["distill"] = (1 - cosine).mean();
    loss = loss + terms["distill"];
  }
  if (config_.pmp) {
    const auto u = per_sample_uniform(in.keys, 2 * config_.rank_pairs, kPairStream, device_);
    const auto pairs = (u * MmaeConfig::kTokens)
                           .to(torch::kLong)
                           .clamp_max(MmaeConfig::kTokens - 1)
                           .view({in.rows(), config_.rank_pairs, 2});
    terms["rank"] = ranking_loss(out.predicted_loss, per_token.detach(), pairs);
    loss = loss + config_.rank_weight * terms["rank"];
  }
  terms["loss"] = loss;
  return terms;
}

std::vector<std::pair<std::string, torch::nn::Module*>> MmaeTask::checkpoint_modules() {
  std::vector<std::pair<std::string, torch::nn::Module*>> modules = {{"", student_.get()}};
  if (teacher_) modules.emplace_back("teacher", teacher_.get());
  if (stats_encoder_) modules.emplace_back("flowmix", stats_encoder_.get());
  return modules;
}

bool MmaeTask::no_weight_decay(const std::string& name) const {
  for (const char* part : {"pos_embed", "cls_token", "mask_token", "_pos", "gamma_"}) {
    if (name.find(part) != std::string::npos) return true;
  }
  return false;
}

double MmaeTask::flops_per_sample() const {
  // The student's masked pass, forward and backward; the teacher's clean pass and FlowMix's
  // statistics encoder, forward only.
  double flops = student_->pass_flops(true).training();
  if (teacher_) flops += student_->pass_flops(false).forward();
  if (stats_encoder_) flops += stats_encoder_->forward_flops();
  return flops;
}

double MmaeTask::batch_flops(const datasets::Batch& batch) const {
  if (batch.filler) return 0.0;
  const double rows = static_cast<double>(batch.rows);
  // FlowMix compares every pair of the batch's flows: B^2 dot products of the embeddings.
  const double pairing = stats_encoder_ ? 2.0 * rows * rows * stats_encoder_->embedding_dim() : 0.0;
  return rows * flops_per_sample() + pairing;
}

}  // namespace trafficfm::models
