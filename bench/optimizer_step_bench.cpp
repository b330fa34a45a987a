// Optimizer-step time of mmae-base (issue 22): the trainer's gradient norm + AdamW step + EMA
// teacher update with each --train.optimizer-impl (per-tensor: torch's op sequence, as before
// issue 22; foreach; one-pass), in turn in the same run on the same parameters and gradients.
// Prints per-step milliseconds (median of the rounds) and the ratio to per-tensor.
//   trafficfm_optimizer_step_bench [ROUNDS] [THREADS] [DEVICE]   (DEVICE: cpu | cuda)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/trainer/optimizer.h"
#include "distributed/communicator.h"
#include "distributed/multi_tensor.h"
#include "distributed/process_grid.h"
#include "distributed/reducer.h"
#include "models/mmae/mmae_model.h"

using namespace trafficfm;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::stoi(argv[1]) : 7;
  const int threads = argc > 2 ? std::stoi(argv[2]) : 1;
  const torch::Device device(argc > 3 && std::string(argv[3]) == "cuda" ? torch::kCUDA : torch::kCPU);
  at::set_num_threads(threads);
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  const models::MmaeConfig config;  // mmae-base
  torch::manual_seed(0);
  models::MmaeModel student(config, grid.tp()), teacher(config, grid.tp());
  student.to(device);
  teacher.to(device);
  std::vector<distributed::NamedParameter> named;
  std::vector<bool> decay, split;
  std::int64_t count = 0;
  for (const auto& item : student.named_parameters()) {
    const auto& p = item.value();
    named.push_back({item.key(), p});
    decay.push_back(p.dim() >= 2);  // no decay on biases and norms
    split.push_back(false);
    count += p.numel();
  }
  distributed::Reducer reducer(named, grid.dp(), {});
  const distributed::AdamWMode modes[3] = {
      distributed::AdamWMode::kPerTensor, distributed::AdamWMode::kForeach, distributed::AdamWMode::kOnePass};
  const char* mode_names[3] = {"per-tensor", "foreach", "one-pass"};
  std::vector<std::unique_ptr<core::TrainerOptimizer>> optimizers;
  for (auto mode : modes) {
    core::OptimizerOptions options;
    options.update = mode;
    optimizers.push_back(std::make_unique<core::TrainerOptimizer>(reducer, grid, decay, split, options));
  }
  for (auto& p : named) p.tensor.mutable_grad() = torch::randn_like(p.tensor) * 1e-3;
  const auto student_params = student.parameters();
  const auto teacher_params = teacher.parameters();
  std::printf("mmae-base: %zu parameter tensors, %.2f M parameters, %s, %d thread(s)\n", named.size(),
              count / 1e6, device.is_cuda() ? "cuda" : "cpu", threads);
  // One step: gradient norm (one host read), AdamW, EMA teacher, each timed.
  using clock = std::chrono::steady_clock;
  auto ms_since = [&](clock::time_point t0) {
    if (device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  };
  const int steps = 10;
  std::vector<double> parts[3][3];  // [mode][norm, adamw, ema], ms per step
  for (int r = 0; r < rounds + 1; ++r) {
    for (int mode = 0; mode < 3; ++mode) {
      auto& optimizer = *optimizers[mode];
      const bool foreach = modes[mode] == distributed::AdamWMode::kForeach;
      double t[3] = {0, 0, 0};
      for (int s = 0; s < steps; ++s) {
        auto t0 = clock::now();
        const double norm = optimizer.grad_norm();
        t[0] += ms_since(t0);
        t0 = clock::now();
        optimizer.step(1e-4, norm);
        t[1] += ms_since(t0);
        t0 = clock::now();
        distributed::ema_update(teacher_params, student_params, 0.99, foreach);
        t[2] += ms_since(t0);
      }
      if (r > 0)  // round 0 warms up
        for (int i = 0; i < 3; ++i) parts[mode][i].push_back(t[i] / steps);
    }
  }
  const char* names[4] = {"gradient norm", "AdamW step", "EMA teacher", "total"};
  std::printf("ms per step, median of %d rounds of %d steps (ratio to per-tensor)\n", rounds, steps);
  std::printf("  %-15s", "");
  for (const char* m : mode_names) std::printf(" %20s", m);
  std::printf("\n");
  for (int i = 0; i < 4; ++i) {
    std::printf("  %-15s", names[i]);
    double base = 0;
    for (int mode = 0; mode < 3; ++mode) {
      const double ms = i < 3 ? median(parts[mode][i])
                              : median(parts[mode][0]) + median(parts[mode][1]) + median(parts[mode][2]);
      if (mode == 0) base = ms;
      std::printf(" %10.3f (%5.3fx)", ms, ms / base);
    }
    std::printf("\n");
  }
  return 0;
}
