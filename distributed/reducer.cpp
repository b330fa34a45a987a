#include "distributed/reducer.h"

#include <stdexcept>

namespace trafficfm::distributed {

Reducer::Reducer(std::vector<NamedParameter> parameters, Communicator& dp, ReducerOptions options)
    : params_(std::move(parameters)), slots_(params_.size()), dp_(dp), options_(options) {
  // Buckets in reverse registration order: the last layers' gradients arrive first.
  for (std::size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k].tensor;
    if (!p.requires_grad()) continue;
    const std::size_t bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
    const bool fresh = buckets_.empty() ||
                       params_[buckets_.back().parameters.front()].tensor.scalar_type() != p.scalar_type() ||
                       params_[buckets_.back().parameters.front()].tensor.device() != p.device() ||
                       (buckets_.back().buffer.numel() * p.element_size() + bytes > options_.bucket_bytes &&
                        !buckets_.back().parameters.empty());
    if (fresh) buckets_.push_back(Bucket{torch::empty({0}, p.options()), torch::Tensor(), {}, 0, nullptr});
    Bucket& b = buckets_.back();
    slots_[k] = Slot{buckets_.size() - 1, b.buffer.numel(), false};
    b.buffer = torch::empty({b.buffer.numel() + p.numel()}, p.options().requires_grad(false));
    b.parameters.push_back(k);
  }
  for (auto& b : buckets_) {
    if (options_.shard_gradients) {  // pad so every dp rank gets an equal slice
      const std::int64_t dp_size = dp_.size();
      const std::int64_t padded = (b.buffer.numel() + dp_size - 1) / dp_size * dp_size;
      b.buffer = torch::empty({padded}, b.buffer.options());
      b.shard = torch::empty({padded / dp_size}, b.buffer.options());
    }
    b.buffer.zero_();
    b.pending = b.parameters.size();
  }
  if (options_.broadcast_parameters) {
    torch::NoGradGuard no_grad;
    for (auto& p : params_) dp_.broadcast(p.tensor.detach(), 0);
  }
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].tensor.requires_grad()) continue;
    hooks_.emplace_back(k, params_[k].tensor.register_hook([this, k](torch::Tensor grad) { on_gradient(k, grad); }));
  }
}

Reducer::~Reducer() {
  // The hooks capture `this`: they must not outlive the reducer.
  for (const auto& [k, handle] : hooks_) params_[k].tensor.remove_hook(handle);
  // Never leave a collective running on buffers that are about to go away.
  for (auto& b : buckets_) {
    if (b.work) {
      try {
        b.work->wait();
      } catch (...) {
      }
    }
  }
}

void Reducer::set_sync(bool sync) { sync_ = sync; }

void Reducer::on_gradient(std::size_t index, const torch::Tensor& grad) {
  if (!sync_) return;
  const Slot& slot = slots_[index];
  torch::NoGradGuard no_grad;
  const torch::Tensor& param = params_[index].tensor;
  auto view = buckets_[slot.bucket].buffer.narrow(0, slot.offset, param.numel());
  // Earlier micro-batches' gradients (no-sync steps) are in .grad already; this one is not yet.
  if (param.grad().defined()) {
    torch::add_out(view, param.grad().reshape(-1), grad.reshape(-1));
  } else {
    view.copy_(grad.reshape(-1));
  }
  mark_ready(index);
}

void Reducer::mark_ready(std::size_t index) {
  Slot& slot = slots_[index];
  if (slot.ready) {
    throw std::logic_error("reducer: gradient of '" + params_[index].name +
                           "' arrived twice before finish() (two backward passes without a sync?)");
  }
  slot.ready = true;
  if (--buckets_[slot.bucket].pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  // In bucket order only: every rank must issue the same collectives in the same order.
  while (next_to_launch_ < buckets_.size() && buckets_[next_to_launch_].pending == 0) {
    Bucket& b = buckets_[next_to_launch_++];
    b.work = options_.shard_gradients ? dp_.reduce_scatter_async(b.buffer, b.shard, ReduceOp::kSum)
                                      : dp_.all_reduce_async(b.buffer, ReduceOp::kSum);
  }
}

void Reducer::use_existing_gradient(std::size_t k) {
  torch::NoGradGuard no_grad;
  const torch::Tensor& param = params_[k].tensor;
  auto view = buckets_[slots_[k].bucket].buffer.narrow(0, slots_[k].offset, param.numel());
  if (param.grad().defined()) {
    view.copy_(param.grad().reshape(-1));
  } else {
    view.zero_();
  }
  mark_ready(k);
}

void Reducer::sync_existing_gradients() {
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (params_[k].tensor.requires_grad()) use_existing_gradient(k);
  }
  finish();
}

void Reducer::finish() {
  if (!sync_) return;
  std::string missing;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].tensor.requires_grad() || slots_[k].ready) continue;
    if (!options_.find_unused) {
      missing += (missing.empty() ? "" : ", ") + params_[k].name;
      continue;
    }
    use_existing_gradient(k);  // an unused parameter contributes its accumulated gradient, or zeros
  }
  if (!missing.empty()) {
    for (auto& b : buckets_) {
      if (b.work) b.work->wait();
    }
    throw std::runtime_error("reducer: no gradient for parameter(s) " + missing +
                             " (not used in the forward pass?); set --parallel.find-unused to allow it");
  }
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / dp_.size();
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    if (options_.shard_gradients) {
      b.shard.mul_(scale);
      for (std::size_t k : b.parameters) slots_[k].ready = false;
      b.pending = b.parameters.size();
      continue;
    }
    b.buffer.mul_(scale);
    for (std::size_t k : b.parameters) {
      torch::Tensor& param = params_[k].tensor;
      auto synced = b.buffer.narrow(0, slots_[k].offset, param.numel()).view(param.sizes());
      if (param.grad().defined()) {
        param.mutable_grad().copy_(synced);
      } else {
        param.mutable_grad() = synced.clone();
      }
      slots_[k].ready = false;
    }
    b.pending = b.parameters.size();
  }
  next_to_launch_ = 0;
}

}  // namespace trafficfm::distributed
