// The trainer's AdamW, plain or ZeRO-1, behind one interface, in two kinds:
//  - adamw: torch::optim::AdamW;
//  - adamw-scale: nanoT5's AdamWScale, AdamW whose step for each parameter is multiplied by
//    max(1e-3, RMS(parameter)) (Adafactor's relative step), which is what lets T5 pretrain at
//    lr 2e-2. Weight decay stays lr * wd (not scaled), as in nanoT5. The RMS is over the whole
//    parameter (summed over tp for split ones), so every layout takes the same step. Two
//    details follow torch's AdamW rather than nanoT5: eps is added after the bias correction,
//    and the decay is applied before the update.
// The moments are the same for both kinds, so a checkpoint holds them the same way. Plain AdamW keeps its
// moments per parameter on this rank (a tp shard); ZeRO-1 shards them across dp ranks
// (distributed/zero_optimizer.h). Both are element for element torch::optim::AdamW (decoupled
// weight decay, bias correction), written here so their state can be saved by parameter name
// and resharded: LibTorch's own AdamW keys its state by TensorImpl address, which changed type
// between 1.13 and 2.x.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "distributed/multi_tensor.h"
#include "distributed/process_grid.h"
#include "distributed/reducer.h"
#include "distributed/zero_optimizer.h"

namespace trafficfm::core {

struct OptimizerOptions {
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip_norm = 1.0;      // 0: no clipping
  bool zero = false;           // ZeRO-1 (the reducer must shard gradients)
  std::string kind = "adamw";  // adamw | adamw-scale
  // How the update runs (distributed/multi_tensor.h): foreach on GPUs, one pass per tensor on CPU.
  distributed::AdamWMode update = distributed::AdamWMode::kOnePass;
};
// Throws std::invalid_argument naming the known kinds.
void check_optimizer_kind(const std::string& kind);

class TrainerOptimizer {
 public:
  // `parameters` in the reducer's order; `decay[k]`: weight decay on parameter k; `lr_scale[k]`
  // (empty: all 1) multiplies the learning rate of parameter k (layer-wise decay).
  TrainerOptimizer(distributed::Reducer& reducer, distributed::ProcessGrid& grid, std::vector<bool> decay,
                   std::vector<bool> tp_split, OptimizerOptions options, std::vector<double> lr_scale = {});
  // After reducer.finish(): makes the gradients of tp-replicated parameters bitwise equal on
  // every tp rank (their average), so the replicas never drift apart by rounding.
  void sync_replicated_gradients();
  // The global gradient norm over dp x tp (after reducer.finish()).
  double grad_norm();
  // One update at `lr`. The gradients are first multiplied by `grad_scale` (the trainer's
  // 1 / total loss weight), and `norm` is the norm after that; they are then clipped to
  // clip_norm.
  void step(double lr, double norm, double grad_scale = 1.0);
  std::int64_t step_count() const { return step_; }
  std::int64_t state_bytes() const;
  bool zero() const { return options_.zero; }
  const std::string& kind() const { return options_.kind; }

  // Full moments of each parameter (this rank's tp shard, whole across dp): collective over dp
  // under ZeRO. Keys "<param>.exp_avg", "<param>.exp_avg_sq".
  std::map<std::string, torch::Tensor> state();
  // Loads moments for this rank's parameters (tp shards already taken).
  void load(const std::map<std::string, torch::Tensor>& moments, std::int64_t step);
  // ZeRO-1 only: this rank's moment slices per bucket (exp_avg, exp_avg_sq), and loading them back
  // at the same dp and bucket layout.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> zero_slices() const;
  void load_zero_slices(const std::vector<std::pair<torch::Tensor, torch::Tensor>>& slices,
                        std::int64_t step);
  const distributed::Reducer& reducer() const { return reducer_; }

 private:
  distributed::Reducer& reducer_;
  distributed::ProcessGrid& grid_;
  std::vector<bool> decay_, tp_split_;
  std::vector<double> lr_scale_;
  OptimizerOptions options_;
  // adamw-scale: max(1e-3, RMS) of every parameter (whole over tp), before this step's update.
  std::vector<double> parameter_rms();
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;  // plain mode
  std::unique_ptr<distributed::ZeroAdamW> zero_;
  std::int64_t step_ = 0;
};

}  // namespace trafficfm::core
