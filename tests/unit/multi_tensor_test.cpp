// The multi-tensor (_foreach_) and one-pass (CPU) optimizer updates against torch's op-by-op
// sequence, tensor by tensor: AdamW and AdamWScale, plain and ZeRO-1, with layer-wise lr scales,
// clipping and a gradient scale, over 20 steps in float64; the EMA teacher update; the one-read
// gradient norm.
#include "distributed/multi_tensor.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/trainer/optimizer.h"
#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/reducer.h"

namespace trafficfm::core {
namespace {

// Tensors of assorted shapes (a scalar, a non-contiguous view) with values from `seed`.
std::vector<torch::Tensor> assorted(std::uint64_t seed, torch::ScalarType type = torch::kDouble) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto opts = torch::TensorOptions().dtype(type);
  std::vector<torch::Tensor> out = {at::randn({}, gen, opts),         at::randn({7}, gen, opts),
                                    at::randn({3, 5}, gen, opts),     at::randn({4, 2, 3}, gen, opts),
                                    at::randn({6, 4}, gen, opts).t(), at::randn({1}, gen, opts)};
  return out;
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& xs) {
  std::vector<torch::Tensor> out;
  for (const auto& x : xs) out.push_back(x.clone());
  return out;
}

// Stated tolerance in float64: 1e-12. On CPU the foreach path runs the per-tensor kernels and agrees
// exactly; the one-pass update computes each element in one expression, so its last bits differ;
// on CUDA the multi-tensor kernels may round differently too. float32: 1e-5 (one-pass).
constexpr double kTolerance = 1e-12;
constexpr distributed::AdamWMode kModes[] = {
    distributed::AdamWMode::kPerTensor, distributed::AdamWMode::kForeach, distributed::AdamWMode::kOnePass};

TEST(MultiTensor, AdamWOverAllTensorsEqualsTensorByTensorOver20Steps) {
  for (auto type : {torch::kDouble, torch::kFloat}) {
    distributed::AdamWLists lists[3];
    for (auto& l : lists) {
      l.params = assorted(1, type);
      for (const auto& p : l.params) {
        l.exp_avg.push_back(torch::zeros_like(p));
        l.exp_avg_sq.push_back(torch::zeros_like(p));
      }
      l.decay = {1.0, 0.999, 0.99, 1.0, 0.995, 0.9};  // no decay on two of them
      l.step = {1e-3, 2e-3, 5e-4, 1e-2, 3e-3, 1e-3};  // layer-wise and RMS-scaled steps
    }
    for (int step = 1; step <= 20; ++step) {
      const auto grads = assorted(100 + step, type);
      distributed::AdamWConstants c;
      c.beta1 = 0.9;
      c.beta2 = 0.95;
      c.bias2 = 1 - std::pow(0.95, step);
      c.grad_scale = step % 3 == 0 ? 1.0 : 0.37;
      for (int mode = 0; mode < 3; ++mode) {
        lists[mode].grads = grads;
        distributed::adamw_update(lists[mode], c, kModes[mode]);
      }
    }
    const double tolerance = type == torch::kDouble ? kTolerance : 1e-5;
    for (int mode = 1; mode < 3; ++mode) {
      EXPECT_LE(max_difference(lists[0].params, lists[mode].params), tolerance) << mode;
      EXPECT_LE(max_difference(lists[0].exp_avg, lists[mode].exp_avg), tolerance) << mode;
      EXPECT_LE(max_difference(lists[0].exp_avg_sq, lists[mode].exp_avg_sq), tolerance) << mode;
    }
    EXPECT_TRUE(lists[0].params[2].equal(lists[1].params[2]));            // foreach: the same kernels on CPU
    EXPECT_GT(max_difference(lists[0].params, assorted(1, type)), 1e-4);  // it did move
  }
}

TEST(MultiTensor, EmaOverAllTensorsEqualsTensorByTensor) {
  auto a = assorted(2), b = clones(a);
  for (int step = 0; step < 20; ++step) {
    const auto source = assorted(200 + step);
    distributed::ema_update(a, source, 0.96 + 0.001 * step, false);
    distributed::ema_update(b, source, 0.96 + 0.001 * step, true);
  }
  EXPECT_LE(max_difference(a, b), kTolerance);
}

TEST(MultiTensor, WeightedSquareSumIsOneTensorForEveryTensor) {
  auto xs = assorted(3);
  xs.push_back(torch::Tensor());                          // no gradient: counts 0
  xs.push_back(torch::full({5}, 2.0, torch::kBFloat16));  // summed in float, not bf16
  const std::vector<double> weight = {1, 0.5, 1, 1, 0.25, 1, 1, 1};
  double expected = 0;
  for (std::size_t k = 0; k < xs.size(); ++k)
    if (xs[k].defined()) expected += weight[k] * xs[k].to(torch::kDouble).square().sum().item<double>();
  for (bool foreach : {false, true}) {
    const auto sum = distributed::weighted_square_sum(xs, weight, foreach);
    EXPECT_EQ(sum.dim(), 0);
    EXPECT_EQ(sum.scalar_type(), torch::kDouble);
    EXPECT_NEAR(sum.item<double>(), expected, 1e-12 * expected) << "foreach " << foreach;
  }
}

// 20 steps of the trainer's optimizer on the same gradients, foreach on and off.
std::vector<torch::Tensor> run_optimizer(const std::string& kind, bool zero, distributed::AdamWMode mode,
                                         std::vector<double>* norms) {
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  std::vector<distributed::NamedParameter> named;
  auto params = assorted(5);
  for (std::size_t k = 0; k < params.size(); ++k) {
    params[k] = params[k].contiguous().requires_grad_(true);
    named.push_back({"p" + std::to_string(k), params[k]});
  }
  distributed::ReducerOptions ro;
  ro.bucket_bytes = 128;  // several buckets, parameters cut across ZeRO slices
  ro.shard_gradients = zero;
  distributed::Reducer reducer(named, grid.dp(), ro);
  OptimizerOptions o;
  o.kind = kind;
  o.zero = zero;
  o.update = mode;
  o.clip_norm = 2.0;  // clips most steps
  TrainerOptimizer optimizer(reducer, grid, {true, false, true, true, false, true},
                             {false, false, false, false, false, false}, o, {0.5, 0.6, 0.7, 0.8, 0.9, 1.0});
  for (int step = 1; step <= 20; ++step) {
    const auto grads = assorted(300 + step);
    for (std::size_t k = 0; k < params.size(); ++k) params[k].mutable_grad() = grads[k].contiguous().clone();
    reducer.sync_existing_gradients();
    const double norm = optimizer.grad_norm() * 0.5;
    norms->push_back(norm);
    optimizer.step(kind == "adamw" ? 1e-2 : 5e-2, norm, 0.5);
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

TEST(MultiTensor, TrainerOptimizerEqualsTensorByTensorPlainZeroLayerDecayAndScale) {
  for (const std::string kind : {"adamw", "adamw-scale"}) {
    for (bool zero : {false, true}) {
      std::vector<double> norms_off;
      const auto off = run_optimizer(kind, zero, distributed::AdamWMode::kPerTensor, &norms_off);
      for (int mode = 1; mode < 3; ++mode) {
        std::vector<double> norms_on;
        const auto on = run_optimizer(kind, zero, kModes[mode], &norms_on);
        const std::string what = kind + (zero ? " zero-1" : " plain") + " mode " + std::to_string(mode);
        EXPECT_LE(max_difference(off, on), kTolerance) << what;
        for (std::size_t i = 0; i < norms_on.size(); ++i)
          EXPECT_NEAR(norms_on[i], norms_off[i], kTolerance * norms_off[i]) << what << " step " << i + 1;
      }
      EXPECT_GT(max_difference(off, assorted(5)), 1e-3) << kind;  // it trained
    }
  }
}

}  // namespace
}  // namespace trafficfm::core
