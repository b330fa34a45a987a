#include "distributed/multi_tensor.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <stdexcept>

#include "distributed/zero_optimizer.h"  // square_sum

namespace trafficfm::distributed {
namespace {

std::vector<at::Scalar> scalars(const std::vector<double>& values) {
  return std::vector<at::Scalar>(values.begin(), values.end());
}

// AdamW on one contiguous CPU tensor in a single pass over its memory: each element of p, g, m
// and v is read once and written once. LibTorch 1.13 has no CPU fused AdamW (2.4's
// _fused_adamw_ CPU kernel does this), and its op-by-op path streams the four arrays through
// memory about eight times, which for mmae-base is slower than the arithmetic. Rounding differs
// from the op-by-op path only in the last bits (one expression instead of rounded temporaries).
template <typename T>
void adamw_one_pass(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& m, torch::Tensor& v,
                    double decay, double minus_step, const AdamWConstants& c) {
  T* pp = p.data_ptr<T>();
  const T* gp = g.data_ptr<T>();
  T* mp = m.data_ptr<T>();
  T* vp = v.data_ptr<T>();
  const T scale = static_cast<T>(c.grad_scale), dk = static_cast<T>(decay), b1 = static_cast<T>(c.beta1),
          b2 = static_cast<T>(c.beta2), a1 = static_cast<T>(1 - c.beta1), a2 = static_cast<T>(1 - c.beta2),
          root = static_cast<T>(std::sqrt(c.bias2)), eps = static_cast<T>(c.eps),
          step = static_cast<T>(minus_step);
  at::parallel_for(0, p.numel(), 1 << 15, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const T gi = gp[i] * scale;
      const T mi = mp[i] * b1 + a1 * gi;
      const T vi = vp[i] * b2 + a2 * gi * gi;
      mp[i] = mi;
      vp[i] = vi;
      pp[i] = pp[i] * dk + step * (mi / (std::sqrt(vi) / root + eps));
    }
  });
}

bool one_pass_fits(const torch::Tensor& p, const torch::Tensor& g, const torch::Tensor& m,
                   const torch::Tensor& v) {
  const auto type = p.scalar_type();
  if (!p.device().is_cpu() || (type != torch::kFloat && type != torch::kDouble)) return false;
  for (const auto* t : {&p, &g, &m, &v}) {
    if (t->scalar_type() != type || !t->device().is_cpu() || !t->is_contiguous() || t->numel() != p.numel())
      return false;
  }
  return true;
}

}  // namespace

void adamw_update(AdamWLists& l, const AdamWConstants& c, AdamWMode mode) {
  const std::size_t n = l.params.size();
  if (l.grads.size() != n || l.exp_avg.size() != n || l.exp_avg_sq.size() != n || l.decay.size() != n ||
      l.step.size() != n) {
    throw std::invalid_argument("adamw_update: lists of different lengths");
  }
  if (n == 0) return;
  torch::NoGradGuard no_grad;
  const double bias2_root = std::sqrt(c.bias2);
  if (mode == AdamWMode::kOnePass) {
    for (std::size_t k = 0; k < n; ++k) {
      if (!one_pass_fits(l.params[k], l.grads[k], l.exp_avg[k], l.exp_avg_sq[k])) {
        AdamWLists one{{l.params[k]},     {l.grads[k]}, {l.exp_avg[k]},
                       {l.exp_avg_sq[k]}, {l.decay[k]}, {l.step[k]}};
        adamw_update(one, c, AdamWMode::kPerTensor);
      } else if (l.params[k].scalar_type() == torch::kFloat) {
        adamw_one_pass<float>(l.params[k], l.grads[k], l.exp_avg[k], l.exp_avg_sq[k], l.decay[k], -l.step[k],
                              c);
      } else {
        adamw_one_pass<double>(l.params[k], l.grads[k], l.exp_avg[k], l.exp_avg_sq[k], l.decay[k], -l.step[k],
                               c);
      }
    }
    return;
  }
  if (mode == AdamWMode::kPerTensor) {
    for (std::size_t k = 0; k < n; ++k) {
      auto& p = l.params[k];
      const auto g = c.grad_scale == 1.0 ? l.grads[k] : l.grads[k] * c.grad_scale;
      if (l.decay[k] != 1.0) p.mul_(l.decay[k]);
      l.exp_avg[k].mul_(c.beta1).add_(g, 1 - c.beta1);
      l.exp_avg_sq[k].mul_(c.beta2).addcmul_(g, g, 1 - c.beta2);
      const auto denom = (l.exp_avg_sq[k].sqrt() / bias2_root).add_(c.eps);
      p.addcdiv_(l.exp_avg[k], denom, -l.step[k]);
    }
    return;
  }
  const std::vector<torch::Tensor> g =
      c.grad_scale == 1.0 ? l.grads : at::_foreach_mul(l.grads, c.grad_scale);
  // Multiplying by exactly 1 changes no bit, so the tensors without decay can share the call.
  at::_foreach_mul_(l.params, scalars(l.decay));
  at::_foreach_mul_(l.exp_avg, c.beta1);
  at::_foreach_add_(l.exp_avg, g, 1 - c.beta1);
  at::_foreach_mul_(l.exp_avg_sq, c.beta2);
  at::_foreach_addcmul_(l.exp_avg_sq, g, g, 1 - c.beta2);
  auto denom = at::_foreach_sqrt(l.exp_avg_sq);
  at::_foreach_div_(denom, bias2_root);
  at::_foreach_add_(denom, c.eps);
  std::vector<double> minus_step(n);
  for (std::size_t k = 0; k < n; ++k) minus_step[k] = -l.step[k];
  at::_foreach_addcdiv_(l.params, l.exp_avg, denom, scalars(minus_step));
}

void ema_update(const std::vector<torch::Tensor>& target, const std::vector<torch::Tensor>& source,
                double momentum, bool foreach) {
  if (target.size() != source.size()) throw std::invalid_argument("ema_update: lists of different lengths");
  if (target.empty()) return;
  torch::NoGradGuard no_grad;
  if (!foreach) {
    for (std::size_t i = 0; i < target.size(); ++i) target[i].mul_(momentum).add_(source[i], 1.0 - momentum);
    return;
  }
  // mul + add rather than _foreach_lerp_: the same bits as the per-tensor path on every device.
  at::_foreach_mul_(target, momentum);
  at::_foreach_add_(target, source, 1.0 - momentum);
}

torch::Tensor weighted_square_sum(const std::vector<torch::Tensor>& xs, const std::vector<double>& weight,
                                  bool foreach) {
  if (xs.size() != weight.size()) throw std::invalid_argument("weighted_square_sum: one weight per tensor");
  std::vector<torch::Tensor> wide;  // float32 or wider: _foreach_norm would accumulate bf16 in bf16
  std::vector<double> wide_weight;
  std::vector<torch::Tensor> terms;
  torch::Device device = torch::kCPU;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    if (!xs[k].defined()) continue;
    device = xs[k].device();
    if (foreach && xs[k].element_size() >= 4) {
      wide.push_back(xs[k]);
      wide_weight.push_back(weight[k]);
    } else {
      terms.push_back(square_sum(xs[k]) * weight[k]);
    }
  }
  if (!wide.empty()) {
    const auto norms = torch::stack(at::_foreach_norm(wide, 2)).to(torch::kDouble);
    const auto w = torch::tensor(wide_weight, torch::kDouble).to(norms.device());
    terms.push_back((norms.square() * w).sum());
  }
  if (terms.empty()) return torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  return torch::stack(terms).sum();
}

}  // namespace trafficfm::distributed
