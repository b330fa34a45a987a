// Data-parallel gradient sync as a coalescing reducer driven by autograd hooks (after
// Flashlight's and PyTorch DDP's design):
//  - parameters are packed, in reverse registration order (roughly the order backward
//    produces their gradients), into flat buckets of about `bucket_bytes`;
//  - each parameter's .grad() is a view into its bucket (DDP's gradient_as_bucket_view), so
//    autograd accumulates gradients straight into the flat buffer: no copy in, no copy out,
//    and one copy of the gradients in memory instead of two;
//  - a hook after each parameter's gradient accumulation marks it ready; when a bucket is
//    complete its all-reduce starts on the communicator's thread while backward goes on
//    (buckets start in order, the same order on every rank);
//  - finish() waits: .grad() then holds the averaged gradients (the collective averages, or
//    the caller divided the loss by dp, see loss_divided_by_dp);
//  - gradient accumulation: with sync off (no_sync micro-batches) the hooks do nothing and
//    .grad accumulates in the bucket as usual; the syncing micro-batch's all-reduce carries
//    the sum of all micro-batches;
//  - bucket buffers are allocated once and reused every step. Zero gradients in place
//    (Module::zero_grad() does); a .grad() replaced by another tensor (set to none, or
//    assigned) is copied into the bucket once and the view put back;
//  - parameters are broadcast from dp rank 0 at construction, so ranks start identical;
//  - a parameter that got no gradient is an error naming it, unless find_unused is set
//    (then it contributes zeros);
//  - a tensor given twice (a tied weight, listed under each name) is one parameter, under its
//    first name: parameters() is the de-duplicated list that optimizers follow.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::autograd {
struct Node;
}

#include "distributed/communicator.h"

namespace trafficfm::distributed {

struct ReducerOptions {
  std::size_t bucket_bytes = 25u << 20;
  bool find_unused = false;
  bool broadcast_parameters = true;
  // ZeRO-1: reduce-scatter each bucket instead of all-reducing it; after finish() every rank
  // holds the averaged gradients of its 1/dp slice of each bucket (bucket_shard), and .grad()
  // is left alone (ZeroAdamW reads the shards).
  bool shard_gradients = false;
  // The caller has divided each rank's loss by dp (the trainer folds 1/dp into the loss weight
  // it applies anyway), so the gradients only need summing. Saves the averaging pass over all
  // gradients that an MPI all-reduce would otherwise need after every bucket (NCCL averages
  // for free, ncclAvg).
  bool loss_divided_by_dp = false;
};

struct NamedParameter {
  std::string name;
  torch::Tensor tensor;
};

class Reducer {
 public:
  Reducer(std::vector<NamedParameter> parameters, Communicator& dp, ReducerOptions options = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Whether the coming backward syncs (false for all but the last accumulation micro-batch).
  void set_sync(bool sync);
  // Syncs the current .grad() of every parameter as if autograd had just produced it (for
  // gradients computed outside autograd, and to time the communication alone).
  void sync_existing_gradients();
  // After backward of a syncing micro-batch: waits for every bucket and writes the averaged
  // gradients into .grad(). Throws naming parameters that got no gradient.
  void finish();

  std::size_t buckets() const { return buckets_.size(); }
  // Bucket layout, for ZeRO-1: the parameters of bucket b and their offsets in its buffer
  // (padded to a multiple of dp), and this rank's averaged gradient slice after finish().
  const std::vector<std::size_t>& bucket_parameters(std::size_t b) const { return buckets_[b].parameters; }
  std::int64_t parameter_offset(std::size_t k) const { return slots_[k].offset; }
  std::int64_t bucket_numel(std::size_t b) const { return buckets_[b].buffer.numel(); }
  const torch::Tensor& bucket_shard(std::size_t b) const { return buckets_[b].shard; }
  const std::vector<NamedParameter>& parameters() const { return params_; }
  Communicator& communicator() { return dp_; }

 private:
  struct Bucket {
    torch::Tensor buffer;                 // flat, in the parameters' dtype
    torch::Tensor shard;                  // ZeRO-1: this rank's reduced slice
    std::vector<std::size_t> parameters;  // indices into params_
    std::size_t pending = 0;
    std::shared_ptr<Work> work;
  };
  struct Slot {
    std::size_t bucket = 0;
    std::int64_t offset = 0;
    torch::Tensor view;  // the parameter's slice of the bucket, shaped like the parameter
    bool ready = false;
  };
  void on_gradient_accumulated(std::size_t index);
  void mark_ready(std::size_t index);
  // Makes .grad() of parameter k its bucket view again, keeping (copying) its value, or zeros.
  void attach_gradient_view(std::size_t k);
  void launch_ready_buckets();

  std::vector<NamedParameter> params_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  Communicator& dp_;
  ReducerOptions options_;
  bool sync_ = true;
  std::size_t next_to_launch_ = 0;
  // The gradient accumulator of each parameter (kept alive: autograd holds it weakly) and the
  // key of the hook added after it.
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, std::uintptr_t>> hooks_;
};

}  // namespace trafficfm::distributed
