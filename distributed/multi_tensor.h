// Optimizer arithmetic over lists of tensors. On CUDA, LibTorch's _foreach_* ops: each op is a
// few multi-tensor kernel launches for all parameters instead of one launch per parameter and
// op (the host-bound step of issue 22). On CPU those ops run the per-tensor kernels one op at a
// time over all tensors, which leaves the caches cold; there AdamW is one pass per tensor
// instead. The per-tensor path (torch's op sequence) is the reference the tests compare against. Fused
// kernels (at::_fused_adamw_, LibTorch 2.x on CUDA) are not used: they take one lr for a whole call, and ours
// differ per parameter (layer decay, AdamWScale).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace trafficfm::distributed {

// One torch::optim::AdamW update (decoupled decay, bias correction, eps after the correction)
// of tensors k = 0..n-1, each with its own decay factor and step size.
struct AdamWLists {
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
  std::vector<double> decay;  // params[k] is first multiplied by this (1 - lr_k * wd, or 1)
  std::vector<double> step;   // then params[k] -= step[k] * exp_avg / denom (step = lr_k * scale_k / bias1)
};
struct AdamWConstants {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double bias2 = 1;       // 1 - beta2^t
  double grad_scale = 1;  // gradients are multiplied by this first (clipping, 1 / loss weight)
};
enum class AdamWMode {
  kPerTensor,  // op by op, tensor by tensor: torch::optim::AdamW's own sequence (the reference)
  kForeach,    // op by op over all tensors at once (_foreach_*): few kernel launches, for GPUs
  kOnePass,    // CPU: one pass over each tensor's memory (others fall back to kPerTensor)
};
void adamw_update(AdamWLists& lists, const AdamWConstants& constants, AdamWMode mode);

// target = momentum * target + (1 - momentum) * source, tensor by tensor (an EMA teacher).
void ema_update(const std::vector<torch::Tensor>& target, const std::vector<torch::Tensor>& source,
                double momentum, bool foreach);

// sum_k weight[k] * ||x[k]||², as a float64 tensor on the tensors' device: the caller reads it
// once (a clip norm costs one host read, not one per parameter). Undefined tensors count 0.
torch::Tensor weighted_square_sum(const std::vector<torch::Tensor>& xs, const std::vector<double>& weight,
                                  bool foreach);

}  // namespace trafficfm::distributed
