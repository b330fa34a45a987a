#include "distributed/vocab_parallel_loss.h"

#include "distributed/tensor_parallel_ops.h"

namespace trafficfm::distributed {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The target's place on this rank: its local column (0 when another rank holds it) and whether
// this rank holds it.
struct LocalTarget {
  torch::Tensor column, inside;
};
LocalTarget local_target(const torch::Tensor& target, std::int64_t first, std::int64_t width) {
  const auto outside = (target < first).logical_or(target >= first + width);
  return {(target - first).masked_fill(outside, 0), outside.logical_not()};
}

// The argmax test from this rank's max and its index and the global max.
torch::Tensor hits_from(const torch::Tensor& local_max, const torch::Tensor& local_index,
                        const torch::Tensor& max, const torch::Tensor& target, std::int64_t first,
                        Communicator& tp) {
  // The rank holding the maximum says whether it is the target (a tie counts as a hit).
  const auto hit = (local_max == max).logical_and(local_index + first == target).to(torch::kFloat);
  return all_reduce_detached(hit, tp, ReduceOp::kMax);
}

struct VocabParallelCrossEntropy : torch::autograd::Function<VocabParallelCrossEntropy> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& target,
                               Communicator* tp) {
    const std::int64_t width = logits.size(-1), first = tp->rank() * width;
    const auto [local_max, local_index] = logits.max(-1);
    // The global max, for numerical stability only (it cancels in the gradient).
    const auto max = all_reduce_detached(local_max, *tp, ReduceOp::kMax);
    auto softmax = logits - max.unsqueeze(-1);
    const auto t = local_target(target, first, width);
    auto picked =
        softmax.gather(-1, t.column.unsqueeze(-1)).squeeze(-1).masked_fill(t.inside.logical_not(), 0.0);
    picked = all_reduce_detached(picked, *tp, ReduceOp::kSum);
    softmax.exp_();
    const auto sum = all_reduce_detached(softmax.sum(-1), *tp, ReduceOp::kSum);
    softmax.div_(sum.unsqueeze(-1));
    ctx->save_for_backward({softmax, t.column, t.inside});
    auto hits = hits_from(local_max, local_index, max, target, first, *tp);
    ctx->mark_non_differentiable({hits});
    return {sum.log() - picked, hits};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& softmax = saved[0];
    const auto& column = saved[1];
    const auto& inside = saved[2];
    const auto g = grads[0];
    // d(log Σ exp − x_target)/dx = softmax − one-hot(target), on this rank's columns.
    auto grad = softmax * g.unsqueeze(-1);
    grad.scatter_add_(-1, column.unsqueeze(-1), (-g * inside.to(g.scalar_type())).unsqueeze(-1));
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

VocabParallelLosses vocab_parallel_losses(const torch::Tensor& logits, const torch::Tensor& target,
                                          Communicator& tp) {
  const auto out = VocabParallelCrossEntropy::apply(logits, target, &tp);
  return {out[0], out[1]};
}

torch::Tensor vocab_parallel_token_losses(const torch::Tensor& logits, const torch::Tensor& target,
                                          Communicator& tp) {
  return vocab_parallel_losses(logits, target, tp).losses;
}

torch::Tensor vocab_parallel_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target,
                                           Communicator& tp) {
  return vocab_parallel_token_losses(logits, target, tp).mean();
}

}  // namespace trafficfm::distributed
