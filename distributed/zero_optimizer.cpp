#include "distributed/zero_optimizer.h"

#include <algorithm>
#include <cmath>

#include "distributed/tensor_parallel_state.h"

namespace trafficfm::distributed {
bool TensorParallelParameters::is_split(const torch::Tensor& p) const {
  for (const auto& s : split) {
    if (s.is_same(p)) return true;
  }
  return false;
}

std::vector<torch::Tensor> TensorParallelParameters::all() const {
  std::vector<torch::Tensor> out = split;
  out.insert(out.end(), replicated.begin(), replicated.end());
  return out;
}

TensorParallelParameters tensor_parallel_parameters(torch::nn::Module& model) {
  // The checkpoint walk is the one place that knows which layers split which tensors.
  TensorParallelParameters out;
  for (const auto& t : sharded_tensors(model)) {
    if (t.is_parameter) (t.split_dim >= 0 ? out.split : out.replicated).push_back(t.tensor);
  }
  return out;
}

torch::Tensor square_sum(const torch::Tensor& x) {
  const auto wide = x.element_size() < 4 ? x.to(torch::kFloat) : x;
  return wide.square().sum().to(torch::kDouble);
}

namespace {
double grad_square_sum(const std::vector<torch::Tensor>& parameters) {
  double sum = 0;
  for (const auto& p : parameters) {
    if (p.grad().defined()) sum += distributed::square_sum(p.grad()).item<double>();
  }
  return sum;
}
}  // namespace

double global_grad_norm(const TensorParallelParameters& parameters, Communicator& tp) {
  // Replicated parameters are identical on every tp rank: count them once.
  auto total =
      torch::tensor({grad_square_sum(parameters.split) + grad_square_sum(parameters.replicated) / tp.size()},
                    torch::kDouble);
  if (tp.size() > 1) tp.all_reduce(total, ReduceOp::kSum);
  return std::sqrt(total.item<double>());
}

double clip_grad_norm(const TensorParallelParameters& parameters, double max_norm, Communicator& tp) {
  const double norm = global_grad_norm(parameters, tp);
  if (std::isfinite(norm) && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    torch::NoGradGuard no_grad;
    for (const auto& p : parameters.all()) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return norm;
}

ZeroAdamW::ZeroAdamW(Reducer& reducer, AdamWOptions options, std::vector<bool> decay,
                     std::vector<double> lr_scale)
    : reducer_(reducer), options_(options) {
  const bool scaled = std::any_of(lr_scale.begin(), lr_scale.end(), [](double x) { return x != 1.0; });
  const auto& params = reducer_.parameters();
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  for (std::size_t b = 0; b < reducer_.buckets(); ++b) {
    const std::int64_t numel = reducer_.bucket_numel(b), slice = numel / dp;
    const auto& first = params[reducer_.bucket_parameters(b).front()].tensor;
    flat_.push_back(torch::zeros({numel}, first.options().requires_grad(false)));
    exp_avg_.push_back(torch::zeros({slice}, flat_.back().options()));
    exp_avg_sq_.push_back(torch::zeros({slice}, flat_.back().options()));
    auto mask = torch::zeros({numel}, flat_.back().options());
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      if (decay.at(k)) mask.narrow(0, reducer_.parameter_offset(k), params[k].tensor.numel()).fill_(1.0);
    }
    decay_mask_.push_back(mask.narrow(0, rank * slice, slice).clone());
    if (scaled) {
      auto lr_mask = torch::ones({numel}, flat_.back().options());
      for (std::size_t k : reducer_.bucket_parameters(b)) {
        lr_mask.narrow(0, reducer_.parameter_offset(k), params[k].tensor.numel()).fill_(lr_scale.at(k));
      }
      lr_mask_.push_back(lr_mask.narrow(0, rank * slice, slice).clone());
    }
  }
}

double ZeroAdamW::local_grad_square_sum(const std::vector<double>& weight) const {
  const auto& params = reducer_.parameters();
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  double sum = 0;
  for (std::size_t b = 0; b < reducer_.buckets(); ++b) {
    const std::int64_t slice = reducer_.bucket_numel(b) / dp, lo = rank * slice, hi = lo + slice;
    const auto g2 = reducer_.bucket_shard(b).square();
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      const std::int64_t from = std::max(lo, reducer_.parameter_offset(k));
      const std::int64_t to = std::min(hi, reducer_.parameter_offset(k) + params[k].tensor.numel());
      if (from < to)
        sum += weight[k] * g2.narrow(0, from - lo, to - from).sum().to(torch::kDouble).item<double>();
    }
  }
  return sum;
}

std::int64_t ZeroAdamW::state_bytes() const {
  std::int64_t bytes = 0;
  for (std::size_t b = 0; b < exp_avg_.size(); ++b) {
    bytes += (exp_avg_[b].numel() + exp_avg_sq_[b].numel()) * exp_avg_[b].element_size();
  }
  return bytes;
}

void ZeroAdamW::average_gradients(Communicator& group, const std::vector<bool>& which) {
  const auto& params = reducer_.parameters();
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  std::vector<torch::Tensor> pieces;
  for (std::size_t b = 0; b < reducer_.buckets(); ++b) {
    const std::int64_t slice = reducer_.bucket_numel(b) / dp, lo = rank * slice, hi = lo + slice;
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      const std::int64_t from = std::max(lo, reducer_.parameter_offset(k));
      const std::int64_t to = std::min(hi, reducer_.parameter_offset(k) + params[k].tensor.numel());
      if (which.at(k) && from < to)
        pieces.push_back(reducer_.bucket_shard(b).narrow(0, from - lo, to - from));
    }
  }
  if (pieces.empty()) return;
  auto flat = torch::cat(pieces);
  group.all_reduce(flat, ReduceOp::kAvg);
  std::int64_t at = 0;
  for (auto& piece : pieces) {
    piece.copy_(flat.narrow(0, at, piece.numel()));
    at += piece.numel();
  }
}

void ZeroAdamW::gather_state(std::vector<torch::Tensor>& exp_avg, std::vector<torch::Tensor>& exp_avg_sq) {
  const auto& params = reducer_.parameters();
  Communicator& dp = reducer_.communicator();
  exp_avg.assign(params.size(), {});
  exp_avg_sq.assign(params.size(), {});
  for (std::size_t b = 0; b < flat_.size(); ++b) {
    for (int which = 0; which < 2; ++which) {
      auto full = torch::empty({flat_[b].numel()}, flat_[b].options());
      dp.all_gather((which == 0 ? exp_avg_ : exp_avg_sq_)[b], full);
      for (std::size_t k : reducer_.bucket_parameters(b)) {
        const auto& p = params[k].tensor;
        (which == 0 ? exp_avg : exp_avg_sq)[k] =
            full.narrow(0, reducer_.parameter_offset(k), p.numel()).view(p.sizes()).clone();
      }
    }
  }
}

void ZeroAdamW::load_state(const std::vector<torch::Tensor>& exp_avg,
                           const std::vector<torch::Tensor>& exp_avg_sq, std::int64_t step) {
  torch::NoGradGuard no_grad;
  const auto& params = reducer_.parameters();
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  for (std::size_t b = 0; b < flat_.size(); ++b) {
    for (int which = 0; which < 2; ++which) {
      auto full = torch::zeros({flat_[b].numel()}, flat_[b].options());
      for (std::size_t k : reducer_.bucket_parameters(b)) {
        const auto& source = (which == 0 ? exp_avg : exp_avg_sq).at(k);
        full.narrow(0, reducer_.parameter_offset(k), params[k].tensor.numel()).copy_(source.reshape(-1));
      }
      const std::int64_t slice = full.numel() / dp;
      (which == 0 ? exp_avg_ : exp_avg_sq_)[b].copy_(full.narrow(0, rank * slice, slice));
    }
  }
  step_ = step;
}

void ZeroAdamW::step(double grad_scale, const std::vector<double>& update_scale) {
  torch::NoGradGuard no_grad;
  ++step_;
  const auto& params = reducer_.parameters();
  Communicator& dp = reducer_.communicator();
  const double bias1 = 1 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bias2 = 1 - std::pow(options_.beta2, static_cast<double>(step_));
  std::vector<std::shared_ptr<Work>> gathers;
  std::vector<torch::Tensor> slices;
  for (std::size_t b = 0; b < flat_.size(); ++b) {
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      flat_[b]
          .narrow(0, reducer_.parameter_offset(k), params[k].tensor.numel())
          .copy_(params[k].tensor.reshape(-1));
    }
    const std::int64_t slice = flat_[b].numel() / dp.size();
    auto p = flat_[b].narrow(0, dp.rank() * slice, slice).clone();
    auto g = reducer_.bucket_shard(b) * grad_scale;
    // torch::optim::AdamW, element for element.
    const bool scaled = !lr_mask_.empty();
    p.mul_(1 -
           options_.lr * options_.weight_decay * (scaled ? decay_mask_[b] * lr_mask_[b] : decay_mask_[b]));
    exp_avg_[b].mul_(options_.beta1).add_(g, 1 - options_.beta1);
    exp_avg_sq_[b].mul_(options_.beta2).addcmul_(g, g, 1 - options_.beta2);
    const auto denom = (exp_avg_sq_[b].sqrt() / std::sqrt(bias2)).add_(options_.eps);
    if (!update_scale.empty()) {
      // This slice's per-element step multiplier: lr scale times the parameter's RMS factor.
      auto step_mask = scaled ? lr_mask_[b].clone() : torch::ones_like(p);
      const std::int64_t lo = dp.rank() * slice;
      for (std::size_t k : reducer_.bucket_parameters(b)) {
        const std::int64_t from = std::max(lo, reducer_.parameter_offset(k));
        const std::int64_t to = std::min(lo + slice, reducer_.parameter_offset(k) + params[k].tensor.numel());
        if (from < to) step_mask.narrow(0, from - lo, to - from).mul_(update_scale.at(k));
      }
      p.sub_(exp_avg_[b] / denom * step_mask * (options_.lr / bias1));
    } else if (scaled) {
      p.sub_(exp_avg_[b] / denom * lr_mask_[b] * (options_.lr / bias1));
    } else {
      p.addcdiv_(exp_avg_[b], denom, -options_.lr / bias1);
    }
    slices.push_back(p);
    gathers.push_back(dp.all_gather_async(p, flat_[b]));
  }
  for (std::size_t b = 0; b < flat_.size(); ++b) {
    gathers[b]->wait();
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      auto& param = params[k].tensor;
      const_cast<torch::Tensor&>(param).copy_(
          flat_[b].narrow(0, reducer_.parameter_offset(k), param.numel()).view(param.sizes()));
    }
  }
}

}  // namespace trafficfm::distributed
