#include "core/trainer/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "distributed/multi_tensor.h"

namespace trafficfm::core {

using distributed::ReduceOp;

void check_optimizer_kind(const std::string& kind) {
  if (kind != "adamw" && kind != "adamw-scale")
    throw std::invalid_argument("optimizer must be adamw or adamw-scale, not '" + kind + "'");
}

TrainerOptimizer::TrainerOptimizer(distributed::Reducer& reducer, distributed::ProcessGrid& grid,
                                   std::vector<bool> decay, std::vector<bool> tp_split,
                                   OptimizerOptions options, std::vector<double> lr_scale)
    : reducer_(reducer),
      grid_(grid),
      decay_(std::move(decay)),
      tp_split_(std::move(tp_split)),
      lr_scale_(std::move(lr_scale)),
      options_(options) {
  if (lr_scale_.empty()) lr_scale_.assign(decay_.size(), 1.0);
  if (lr_scale_.size() != decay_.size()) throw std::invalid_argument("optimizer: one lr scale per parameter");
  check_optimizer_kind(options_.kind);
  if (options_.zero) {
    distributed::AdamWOptions z;
    z.beta1 = options_.beta1;
    z.beta2 = options_.beta2;
    z.eps = options_.eps;
    z.weight_decay = options_.weight_decay;
    z.update = options_.update;
    zero_ = std::make_unique<distributed::ZeroAdamW>(reducer_, z, decay_, lr_scale_);
  } else {
    for (const auto& p : reducer_.parameters()) {
      exp_avg_.push_back(torch::zeros_like(p.tensor).detach());
      exp_avg_sq_.push_back(torch::zeros_like(p.tensor).detach());
    }
  }
}

void TrainerOptimizer::sync_replicated_gradients() {
  if (grid_.tp().size() == 1) return;
  std::vector<bool> replicated;
  for (bool split : tp_split_) replicated.push_back(!split);
  if (zero_) {
    zero_->average_gradients(grid_.tp(), replicated);
    return;
  }
  std::vector<torch::Tensor> grads;
  const auto& params = reducer_.parameters();
  for (std::size_t k = 0; k < params.size(); ++k) {
    if (replicated[k] && params[k].tensor.grad().defined()) grads.push_back(params[k].tensor.grad());
  }
  if (grads.empty()) return;
  std::vector<torch::Tensor> flat_pieces;
  for (const auto& g : grads) flat_pieces.push_back(g.reshape(-1));
  auto flat = torch::cat(flat_pieces);
  grid_.tp().all_reduce(flat, ReduceOp::kAvg);
  std::int64_t at = 0;
  torch::NoGradGuard no_grad;
  for (auto& g : grads) {
    g.copy_(flat.narrow(0, at, g.numel()).view(g.sizes()));
    at += g.numel();
  }
}

double TrainerOptimizer::grad_norm() {
  const auto& params = reducer_.parameters();
  const double replicated_weight = 1.0 / grid_.tp().size();  // replicated: counted once over tp
  std::vector<double> weight;
  for (std::size_t k = 0; k < params.size(); ++k) weight.push_back(tp_split_[k] ? 1.0 : replicated_weight);
  torch::Tensor total;
  if (zero_) {
    total = torch::tensor({zero_->local_grad_square_sum(weight)}, torch::kDouble);
    grid_.dp().all_reduce(total, ReduceOp::kSum);  // each dp rank holds a slice
  } else {
    // One device reduction over every gradient and one host read, not one per parameter.
    std::vector<torch::Tensor> grads;
    for (const auto& p : params) grads.push_back(p.tensor.grad());
    const bool foreach = options_.update != distributed::AdamWMode::kPerTensor;
    total = distributed::weighted_square_sum(grads, weight, foreach).to(torch::kCPU).reshape({1});
  }
  if (grid_.tp().size() > 1) grid_.tp().all_reduce(total, ReduceOp::kSum);
  return std::sqrt(total.item<double>());
}

std::vector<double> TrainerOptimizer::parameter_rms() {
  const auto& params = reducer_.parameters();
  std::vector<double> squares, count;
  std::vector<torch::Tensor> sums;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const bool split = tp_split_[k] && grid_.tp().size() > 1;
    // A split parameter's square sum and size are summed over tp; a replicated one is counted
    // on one rank's behalf only (divided by tp, then summed back).
    const double share = split ? 1.0 : 1.0 / grid_.tp().size();
    sums.push_back(distributed::square_sum(params[k].tensor.detach()) * share);
    count.push_back(share * static_cast<double>(params[k].tensor.numel()));
  }
  if (!sums.empty()) {  // one device-to-host copy, not one per parameter
    const auto host = torch::stack(sums).to(torch::kCPU).contiguous();
    squares.assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  }
  if (grid_.tp().size() > 1 && !params.empty()) {
    std::vector<double> both = squares;
    both.insert(both.end(), count.begin(), count.end());
    auto t = torch::tensor(both, torch::kDouble);
    grid_.tp().all_reduce(t, ReduceOp::kSum);
    for (std::size_t k = 0; k < params.size(); ++k) {
      squares[k] = t[static_cast<std::int64_t>(k)].item<double>();
      count[k] = t[static_cast<std::int64_t>(k + params.size())].item<double>();
    }
  }
  std::vector<double> rms;
  for (std::size_t k = 0; k < params.size(); ++k)
    rms.push_back(std::max(1e-3, std::sqrt(squares[k] / std::max(count[k], 1.0))));
  return rms;
}

void TrainerOptimizer::step(double lr, double norm, double grad_scale) {
  const double clip =
      options_.clip_norm > 0 && norm > options_.clip_norm ? options_.clip_norm / (norm + 1e-6) : 1.0;
  const double scale = clip * grad_scale;
  const std::vector<double> update_scale =
      options_.kind == "adamw-scale" ? parameter_rms() : std::vector<double>{};
  ++step_;
  if (zero_) {
    zero_->set_lr(lr);
    zero_->step(scale, update_scale);
    return;
  }
  const double bias1 = 1 - std::pow(options_.beta1, static_cast<double>(step_));
  distributed::AdamWConstants constants;
  constants.beta1 = options_.beta1;
  constants.beta2 = options_.beta2;
  constants.eps = options_.eps;
  constants.bias2 = 1 - std::pow(options_.beta2, static_cast<double>(step_));
  constants.grad_scale = scale;
  distributed::AdamWLists lists;
  const auto& params = reducer_.parameters();
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto& p = params[k].tensor;
    if (!p.grad().defined()) continue;
    const double lr_k = lr * lr_scale_[k];
    lists.params.push_back(p);
    lists.grads.push_back(p.grad());
    lists.exp_avg.push_back(exp_avg_[k]);
    lists.exp_avg_sq.push_back(exp_avg_sq_[k]);
    lists.decay.push_back(decay_[k] ? 1 - lr_k * options_.weight_decay : 1.0);
    lists.step.push_back((update_scale.empty() ? lr_k : lr_k * update_scale[k]) / bias1);
  }
  distributed::adamw_update(lists, constants, options_.update);
}

std::int64_t TrainerOptimizer::state_bytes() const {
  if (zero_) return zero_->state_bytes();
  std::int64_t bytes = 0;
  for (std::size_t k = 0; k < exp_avg_.size(); ++k)
    bytes += 2 * exp_avg_[k].numel() * exp_avg_[k].element_size();
  return bytes;
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> TrainerOptimizer::zero_slices() const {
  if (!zero_) throw std::logic_error("zero_slices: not a ZeRO-1 optimizer");
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  for (std::size_t b = 0; b < zero_->exp_avg_slices().size(); ++b)
    out.emplace_back(zero_->exp_avg_slices()[b], zero_->exp_avg_sq_slices()[b]);
  return out;
}

void TrainerOptimizer::load_zero_slices(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& slices,
                                        std::int64_t step) {
  if (!zero_) throw std::logic_error("load_zero_slices: not a ZeRO-1 optimizer");
  std::vector<torch::Tensor> m1, m2;
  for (const auto& [a, b] : slices) {
    m1.push_back(a);
    m2.push_back(b);
  }
  zero_->load_slices(m1, m2, step);
  step_ = step;
}

std::map<std::string, torch::Tensor> TrainerOptimizer::state() {
  std::vector<torch::Tensor> m1 = exp_avg_, m2 = exp_avg_sq_;
  if (zero_) zero_->gather_state(m1, m2);
  std::map<std::string, torch::Tensor> out;
  const auto& params = reducer_.parameters();
  for (std::size_t k = 0; k < params.size(); ++k) {
    out[params[k].name + ".exp_avg"] = m1[k];
    out[params[k].name + ".exp_avg_sq"] = m2[k];
  }
  return out;
}

void TrainerOptimizer::load(const std::map<std::string, torch::Tensor>& moments, std::int64_t step) {
  const auto& params = reducer_.parameters();
  std::vector<torch::Tensor> m1, m2;
  for (const auto& p : params) {
    for (const char* which : {".exp_avg", ".exp_avg_sq"}) {
      const auto it = moments.find(p.name + which);
      if (it == moments.end())
        throw std::runtime_error("checkpoint has no optimizer state '" + p.name + which + "'");
      if (!it->second.sizes().equals(p.tensor.sizes())) {
        throw std::runtime_error("optimizer state '" + p.name + which + "' has the wrong shape");
      }
      (std::string(which) == ".exp_avg" ? m1 : m2).push_back(it->second);
    }
  }
  step_ = step;
  if (zero_) {
    zero_->load_state(m1, m2, step);
    return;
  }
  torch::NoGradGuard no_grad;
  for (std::size_t k = 0; k < params.size(); ++k) {
    exp_avg_[k].copy_(m1[k]);
    exp_avg_sq_[k].copy_(m2[k]);
  }
}

}  // namespace trafficfm::core
