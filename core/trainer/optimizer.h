// The trainer's AdamW, plain or ZeRO-1, behind one interface. Plain AdamW keeps its moments per
// parameter on this rank (a tp shard); ZeRO-1 shards them across dp ranks
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

#include "distributed/process_grid.h"
#include "distributed/reducer.h"
#include "distributed/zero_optimizer.h"

namespace trafficfm::core {

struct OptimizerOptions {
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip_norm = 1.0;  // 0: no clipping
  bool zero = false;       // ZeRO-1 (the reducer must shard gradients)
};

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
  // One update at `lr`, gradients scaled so their norm is at most clip_norm (given the norm).
  void step(double lr, double norm);
  std::int64_t step_count() const { return step_; }
  std::int64_t state_bytes() const;
  bool zero() const { return options_.zero; }

  // Full moments of each parameter (this rank's tp shard, whole across dp): collective over dp
  // under ZeRO. Keys "<param>.exp_avg", "<param>.exp_avg_sq".
  std::map<std::string, torch::Tensor> state();
  // Loads moments for this rank's parameters (tp shards already taken).
  void load(const std::map<std::string, torch::Tensor>& moments, std::int64_t step);

 private:
  distributed::Reducer& reducer_;
  distributed::ProcessGrid& grid_;
  std::vector<bool> decay_, tp_split_;
  std::vector<double> lr_scale_;
  OptimizerOptions options_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;  // plain mode
  std::unique_ptr<distributed::ZeroAdamW> zero_;
  std::int64_t step_ = 0;
};

}  // namespace trafficfm::core
