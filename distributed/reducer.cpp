#include "distributed/reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include <functional>
#include <set>
#include <stdexcept>

namespace trafficfm::distributed {
namespace {

// Runs after a parameter's AccumulateGrad node, i.e. once .grad() holds this backward's sum.
class AfterAccumulation : public torch::autograd::FunctionPostHook {
 public:
  explicit AfterAccumulation(std::function<void()> callback) : callback_(std::move(callback)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    callback_();
    return outputs;
  }

 private:
  std::function<void()> callback_;
};

bool is_view_of(const torch::Tensor& grad, const torch::Tensor& view) {
  return grad.defined() && grad.data_ptr() == view.data_ptr() && grad.sizes() == view.sizes() &&
         grad.strides() == view.strides() && grad.scalar_type() == view.scalar_type();
}

// A tensor listed twice (a tied weight: LibTorch's named_parameters() lists it under each of
// its names) must get one bucket slot, one hook and one update: the first name is kept.
std::vector<NamedParameter> unique_tensors(std::vector<NamedParameter> parameters) {
  std::vector<NamedParameter> out;
  std::set<const void*> seen;
  for (auto& p : parameters) {
    if (seen.insert(p.tensor.unsafeGetTensorImpl()).second) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

Reducer::Reducer(std::vector<NamedParameter> parameters, Communicator& dp, ReducerOptions options)
    : params_(unique_tensors(std::move(parameters))), slots_(params_.size()), dp_(dp), options_(options) {
  // Buckets in reverse registration order: the last layers' gradients arrive first.
  std::vector<std::int64_t> bucket_numel;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k].tensor;
    if (!p.requires_grad()) continue;
    const std::size_t bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
    const bool fresh =
        buckets_.empty() ||
        params_[buckets_.back().parameters.front()].tensor.scalar_type() != p.scalar_type() ||
        params_[buckets_.back().parameters.front()].tensor.device() != p.device() ||
        static_cast<std::size_t>(bucket_numel.back()) * p.element_size() + bytes > options_.bucket_bytes;
    if (fresh) {
      buckets_.push_back(Bucket{torch::Tensor(), torch::Tensor(), {}, 0, nullptr});
      bucket_numel.push_back(0);
    }
    slots_[k] = Slot{buckets_.size() - 1, bucket_numel.back(), torch::Tensor(), false};
    bucket_numel.back() += p.numel();
    buckets_.back().parameters.push_back(k);
  }
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    const auto& first = params_[b.parameters.front()].tensor;
    const auto options = first.options().requires_grad(false);
    std::int64_t numel = bucket_numel[i];
    if (options_.shard_gradients) {  // pad so every dp rank gets an equal slice
      const std::int64_t dp_size = dp_.size();
      numel = (numel + dp_size - 1) / dp_size * dp_size;
      b.shard = torch::empty({numel / dp_size}, options);
    }
    b.buffer = dp_.allocate_buffer(numel, options).zero_();  // node shared memory on one CPU node
    b.pending = b.parameters.size();
  }
  if (options_.broadcast_parameters) {
    torch::NoGradGuard no_grad;
    for (auto& p : params_) dp_.broadcast(p.tensor.detach(), 0);
  }
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].tensor.requires_grad()) continue;
    const torch::Tensor& p = params_[k].tensor;
    slots_[k].view = buckets_[slots_[k].bucket].buffer.narrow(0, slots_[k].offset, p.numel()).view(p.sizes());
    attach_gradient_view(k);  // a gradient already there is kept
    auto accumulator = torch::autograd::impl::grad_accumulator(p);
    if (!accumulator)
      throw std::invalid_argument("reducer: parameter '" + params_[k].name + "' is not a leaf");
    const auto key = accumulator->add_post_hook(
        std::make_unique<AfterAccumulation>([this, k] { on_gradient_accumulated(k); }));
    hooks_.emplace_back(std::move(accumulator), key);
  }
}

Reducer::~Reducer() {
  // The hooks capture `this`: they must not outlive the reducer.
  for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
  // Never leave a collective running on buffers that are about to go away.
  for (auto& b : buckets_) {
    if (b.work) {
      try {
        b.work->wait();
      } catch (...) {
      }
    }
  }
  // .grad() stays valid: the views keep the bucket storage alive.
}

void Reducer::set_sync(bool sync) { sync_ = sync; }

void Reducer::attach_gradient_view(std::size_t k) {
  torch::Tensor& param = params_[k].tensor;
  const torch::Tensor& view = slots_[k].view;
  if (is_view_of(param.grad(), view)) return;
  torch::NoGradGuard no_grad;
  if (param.grad().defined()) {
    view.copy_(param.grad());
  } else {
    view.zero_();
  }
  param.mutable_grad() = view;
}

void Reducer::on_gradient_accumulated(std::size_t index) {
  if (!sync_) return;
  attach_gradient_view(index);  // a no-op unless .grad() was replaced since the last step
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
    const ReduceOp op = options_.loss_divided_by_dp ? ReduceOp::kSum : ReduceOp::kAvg;
    b.work = options_.shard_gradients ? dp_.reduce_scatter_async(b.buffer, b.shard, op)
                                      : dp_.all_reduce_async(b.buffer, op);
  }
}

void Reducer::sync_existing_gradients() {
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (!params_[k].tensor.requires_grad()) continue;
    attach_gradient_view(k);
    mark_ready(k);
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
    // An unused parameter contributes its accumulated gradient (no-sync micro-batches), or zeros.
    attach_gradient_view(k);
    mark_ready(k);
  }
  if (!missing.empty()) {
    for (auto& b : buckets_) {
      if (b.work) b.work->wait();
    }
    throw std::runtime_error("reducer: no gradient for parameter(s) " + missing +
                             " (not used in the forward pass?); set --parallel.find-unused to allow it");
  }
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    for (std::size_t k : b.parameters) slots_[k].ready = false;
    b.pending = b.parameters.size();
  }
  next_to_launch_ = 0;
}

}  // namespace trafficfm::distributed
