// ZeRO-1 (Rajbhandari et al.): AdamW whose state is sharded across data-parallel ranks. With a
// Reducer in shard_gradients mode, each rank receives the averaged gradients of its 1/dp slice
// of every bucket (reduce-scatter), updates that slice of the parameters with its slice of
// the moments, and all-gathers the updated parameters. The update is element for element
// torch::optim::AdamW's (and the trainer's plain AdamW's).
// What a rank keeps between steps is its slices of the two moments: 2/dp of plain AdamW's
// state. Per-parameter settings (weight decay, lr scale, AdamWScale's RMS factor) are applied to
// each parameter's segment of the slice, not through masks the size of the slice. During a step
// it holds, transiently, a few slice-sized temporaries and the gather buffers of at most two
// buckets (the next bucket's update overlaps the previous one's all-gather).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "distributed/multi_tensor.h"
#include "distributed/reducer.h"

namespace trafficfm::distributed {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  AdamWMode update = AdamWMode::kOnePass;  // over the segments (multi_tensor.h)
};

class ZeroAdamW {
 public:
  // `decay[k]` says whether parameter k of the reducer gets weight decay (no decay on biases
  // and norms is the caller's choice).
  // lr_scale: per-parameter learning-rate multipliers (empty: all 1).
  ZeroAdamW(Reducer& reducer, AdamWOptions options, std::vector<bool> decay,
            std::vector<double> lr_scale = {});
  // After reducer.finish(): `grad_scale` multiplies the gradients (clipping coefficient).
  // `update_scale` (empty: all 1) multiplies parameter k's step, not its decay (AdamWScale's
  // RMS factor, core/trainer/optimizer.h).
  void step(double grad_scale = 1.0, const std::vector<double>& update_scale = {});
  void set_lr(double lr) { options_.lr = lr; }
  // Sum of squares of this rank's gradient slice, each element weighted (for the global norm).
  double local_grad_square_sum(const std::vector<double>& element_weight_per_parameter) const;
  // Bytes this rank keeps between steps (its moment slices; nothing else persists).
  std::int64_t state_bytes() const;
  std::int64_t step_count() const { return step_; }
  // Averages, over `group`, this rank's gradient slice of the parameters marked in `which`
  // (tensor-parallel replicas of replicated parameters: their gradients agree up to rounding,
  // and must agree bitwise for the replicas to stay identical).
  void average_gradients(Communicator& group, const std::vector<bool>& which);
  // Checkpoints hold the moments per parameter, whole, so any dp size reads them back.
  // gather_state is a collective over dp (every rank gets the full moments); load_state takes
  // this rank's slices of full moments (one per reducer parameter, in the reducer's order).
  void gather_state(std::vector<torch::Tensor>& exp_avg, std::vector<torch::Tensor>& exp_avg_sq);
  void load_state(const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                  std::int64_t step);
  // This rank's moment slices, one per bucket, as they are: what a sharded checkpoint saves, and
  // loads back at the same dp and bucket layout.
  const std::vector<torch::Tensor>& exp_avg_slices() const { return exp_avg_; }
  const std::vector<torch::Tensor>& exp_avg_sq_slices() const { return exp_avg_sq_; }
  void load_slices(const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                   std::int64_t step);

 private:
  // A run of this rank's slice of a bucket that belongs to one parameter.
  struct Segment {
    std::size_t parameter;  // index into the reducer's parameters
    std::int64_t in_param;  // first element within the (flattened) parameter
    std::int64_t in_slice;  // first element within the slice
    std::int64_t length;
  };
  // Copies the gathered bucket b into its parameters.
  void scatter_into_parameters(std::size_t b, const torch::Tensor& full);
  Reducer& reducer_;
  AdamWOptions options_;
  std::vector<bool> decay_;
  std::vector<double> lr_scale_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;  // per bucket, this rank's slice
  std::vector<std::vector<Segment>> segments_;       // per bucket, this rank's slice
  std::int64_t step_ = 0;
};

// A model's parameters by how they live across tensor-parallel ranks: split (each tp rank
// holds a different shard: column/row-parallel weights, vocab-parallel embeddings, head-parallel
// tables) or
// replicated (norms, row-parallel biases, everything else). Found by walking the modules.
struct TensorParallelParameters {
  std::vector<torch::Tensor> split, replicated;
  bool is_split(const torch::Tensor& p) const;
  std::vector<torch::Tensor> all() const;
};
TensorParallelParameters tensor_parallel_parameters(torch::nn::Module& model);

// The global gradient norm over dp x tp (after the dp sync): split parameters count on every
// tp rank, replicated ones once.
double global_grad_norm(const TensorParallelParameters& parameters, Communicator& tp);

// Σ x² as a float64 scalar tensor, squared and summed in float32 (half types widened first):
// torch's cascade sum keeps it within ~1e-8 of the float64 sum, about 4x faster than converting
// to float64 first, which for a small model's two [vocabulary, d_model] tables was a large share
// of the step.
torch::Tensor square_sum(const torch::Tensor& x);
// Scales gradients so their global norm is at most max_norm; returns the norm before.
double clip_grad_norm(const TensorParallelParameters& parameters, double max_norm, Communicator& tp);

}  // namespace trafficfm::distributed
