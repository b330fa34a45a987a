#include "distributed/zero_optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "distributed/multi_tensor.h"
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

double global_grad_norm(const TensorParallelParameters& parameters, Communicator& tp) {
  // Replicated parameters are identical on every tp rank: count them once. One host read.
  std::vector<torch::Tensor> grads;
  std::vector<double> weight;
  for (const auto& p : parameters.split) grads.push_back(p.grad()), weight.push_back(1.0);
  for (const auto& p : parameters.replicated) grads.push_back(p.grad()), weight.push_back(1.0 / tp.size());
  auto total = weighted_square_sum(grads, weight, /*foreach=*/false).to(torch::kCPU).reshape({1});
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
    : reducer_(reducer), options_(options), decay_(std::move(decay)), lr_scale_(std::move(lr_scale)) {
  const auto& params = reducer_.parameters();
  if (lr_scale_.empty()) lr_scale_.assign(params.size(), 1.0);
  if (decay_.size() != params.size() || lr_scale_.size() != params.size())
    throw std::invalid_argument("ZeroAdamW: one decay flag and one lr scale per parameter");
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  for (std::size_t b = 0; b < reducer_.buckets(); ++b) {
    const std::int64_t slice = reducer_.bucket_numel(b) / dp, lo = rank * slice, hi = lo + slice;
    const auto& first = params[reducer_.bucket_parameters(b).front()].tensor;
    const auto options = first.options().requires_grad(false);
    exp_avg_.push_back(torch::zeros({slice}, options));
    exp_avg_sq_.push_back(torch::zeros({slice}, options));
    std::vector<Segment> segments;
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      const std::int64_t offset = reducer_.parameter_offset(k);
      const std::int64_t from = std::max(lo, offset), to = std::min(hi, offset + params[k].tensor.numel());
      if (from < to) segments.push_back({k, from - offset, from - lo, to - from});
    }
    segments_.push_back(std::move(segments));
  }
}

double ZeroAdamW::local_grad_square_sum(const std::vector<double>& weight) const {
  const auto& params = reducer_.parameters();
  const int dp = reducer_.communicator().size(), rank = reducer_.communicator().rank();
  std::vector<torch::Tensor> pieces;
  std::vector<double> piece_weight;
  for (std::size_t b = 0; b < reducer_.buckets(); ++b) {
    const std::int64_t slice = reducer_.bucket_numel(b) / dp, lo = rank * slice, hi = lo + slice;
    for (std::size_t k : reducer_.bucket_parameters(b)) {
      const std::int64_t from = std::max(lo, reducer_.parameter_offset(k));
      const std::int64_t to = std::min(hi, reducer_.parameter_offset(k) + params[k].tensor.numel());
      if (from < to) {
        pieces.push_back(reducer_.bucket_shard(b).narrow(0, from - lo, to - from));
        piece_weight.push_back(weight[k]);
      }
    }
  }
  // One host read for all of them.
  return weighted_square_sum(pieces, piece_weight, options_.update != AdamWMode::kPerTensor).item<double>();
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
  for (std::size_t b = 0; b < exp_avg_.size(); ++b) {
    for (int which = 0; which < 2; ++which) {
      auto full = torch::empty({reducer_.bucket_numel(b)}, exp_avg_[b].options());
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
  for (std::size_t b = 0; b < exp_avg_.size(); ++b) {
    for (int which = 0; which < 2; ++which) {
      auto full = torch::zeros({reducer_.bucket_numel(b)}, exp_avg_[b].options());
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

void ZeroAdamW::load_slices(const std::vector<torch::Tensor>& exp_avg,
                            const std::vector<torch::Tensor>& exp_avg_sq, std::int64_t step) {
  if (exp_avg.size() != exp_avg_.size() || exp_avg_sq.size() != exp_avg_sq_.size())
    throw std::runtime_error("ZeRO-1 state: " + std::to_string(exp_avg.size()) + " bucket slices for " +
                             std::to_string(exp_avg_.size()) + " buckets");
  torch::NoGradGuard no_grad;
  for (std::size_t b = 0; b < exp_avg_.size(); ++b) {
    if (exp_avg[b].numel() != exp_avg_[b].numel() || exp_avg_sq[b].numel() != exp_avg_sq_[b].numel())
      throw std::runtime_error("ZeRO-1 state: bucket " + std::to_string(b) + " slice has another size");
    exp_avg_[b].copy_(exp_avg[b].reshape(-1));
    exp_avg_sq_[b].copy_(exp_avg_sq[b].reshape(-1));
  }
  step_ = step;
}

void ZeroAdamW::scatter_into_parameters(std::size_t b, const torch::Tensor& full) {
  const auto& params = reducer_.parameters();
  for (std::size_t k : reducer_.bucket_parameters(b)) {
    auto& param = const_cast<torch::Tensor&>(params[k].tensor);
    param.copy_(full.narrow(0, reducer_.parameter_offset(k), param.numel()).view(param.sizes()));
  }
}

void ZeroAdamW::step(double grad_scale, const std::vector<double>& update_scale) {
  torch::NoGradGuard no_grad;
  ++step_;
  const auto& params = reducer_.parameters();
  Communicator& dp = reducer_.communicator();
  const double bias1 = 1 - std::pow(options_.beta1, static_cast<double>(step_));
  AdamWConstants constants;
  constants.beta1 = options_.beta1;
  constants.beta2 = options_.beta2;
  constants.eps = options_.eps;
  constants.bias2 = 1 - std::pow(options_.beta2, static_cast<double>(step_));
  constants.grad_scale = grad_scale;
  // Bucket b's update overlaps bucket b-1's all-gather; at most two gather buffers live.
  std::shared_ptr<Work> pending;
  torch::Tensor pending_slice, pending_full;  // alive until the gather is waited for
  std::size_t pending_bucket = 0;
  auto finish_pending = [&] {
    if (!pending) return;
    pending->wait();
    scatter_into_parameters(pending_bucket, pending_full);
    pending.reset();
    pending_slice = pending_full = torch::Tensor();
  };
  for (std::size_t b = 0; b < exp_avg_.size(); ++b) {
    const std::int64_t slice = exp_avg_[b].numel();
    // This rank's slice of the parameters (padding stays 0), then torch::optim::AdamW, element
    // for element, with each parameter's own settings on its segment.
    auto p = torch::zeros({slice}, exp_avg_[b].options());
    for (const auto& s : segments_[b])
      p.narrow(0, s.in_slice, s.length)
          .copy_(params[s.parameter].tensor.reshape(-1).narrow(0, s.in_param, s.length));
    // Each segment (a parameter's part of the slice) is one tensor of the update; the padding
    // beyond them has zero gradients and moments, and stays so.
    AdamWLists lists;
    for (const auto& s : segments_[b]) {
      lists.params.push_back(p.narrow(0, s.in_slice, s.length));
      lists.grads.push_back(reducer_.bucket_shard(b).narrow(0, s.in_slice, s.length));
      lists.exp_avg.push_back(exp_avg_[b].narrow(0, s.in_slice, s.length));
      lists.exp_avg_sq.push_back(exp_avg_sq_[b].narrow(0, s.in_slice, s.length));
      const double lr_k = options_.lr * lr_scale_[s.parameter];
      lists.decay.push_back(decay_[s.parameter] ? 1 - lr_k * options_.weight_decay : 1.0);
      lists.step.push_back(lr_k * (update_scale.empty() ? 1.0 : update_scale.at(s.parameter)) / bias1);
    }
    adamw_update(lists, constants, options_.update);
    auto full = torch::empty({reducer_.bucket_numel(b)}, p.options());
    auto work = dp.all_gather_async(p, full);
    finish_pending();
    pending = std::move(work);
    pending_slice = p;
    pending_full = full;
    pending_bucket = b;
  }
  finish_pending();
}

}  // namespace trafficfm::distributed
