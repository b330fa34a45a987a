// How a model's tensors lie across tensor-parallel ranks, for checkpoints that any layout can
// read: each parameter or buffer is either replicated on every tp rank or split along one
// dimension (column-parallel weights and biases and vocab-parallel embeddings along dim 0,
// row-parallel weights and head-parallel tables along dim 1). Checkpoints hold full tensors (gathered over
// tp), and a rank at any tp takes its slice back with local_shard, so resharding is a slice.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

struct ShardedTensor {
  std::string name;      // prefix + the module's dotted name
  torch::Tensor tensor;  // this rank's tensor (a parameter or buffer, shared with the module)
  int split_dim = -1;    // -1: replicated across tp
  bool is_parameter = true;
  // >= 0: dim 0 is a vocabulary padded past its real rows (to a multiple of 128 x tp, which
  // depends on tp). Checkpoints hold only the real rows, so any tp reads them: loading pads the
  // rows back with zeros. -1: no padding.
  std::int64_t rows = -1;
};

// Every parameter and buffer of `model`, named "<prefix><name>", in registration order.
std::vector<ShardedTensor> sharded_tensors(torch::nn::Module& model, const std::string& prefix = "");

// The full tensor from every tp rank's shard (a collective over `tp`; identity at tp = 1).
torch::Tensor gather_full(const torch::Tensor& shard, int split_dim, Communicator& tp);
// The full tensor of `t` (or of `shard`, a tensor laid out like it: its optimizer moments)
// without its padding rows: what a checkpoint holds.
torch::Tensor gather_full(const ShardedTensor& t, Communicator& tp, const torch::Tensor& shard = {});
// This tp rank's slice, laid out like `like`, of a full tensor from a checkpoint (padding rows
// restored with zeros).
torch::Tensor local_shard(const torch::Tensor& full, const ShardedTensor& like, Communicator& tp);
// This tp rank's slice of a full tensor; throws naming `name` when the size does not divide.
torch::Tensor local_shard(const torch::Tensor& full, int split_dim, Communicator& tp,
                          const std::string& name);
// Loading a full tensor (from a checkpoint of any layout) into one of sharded_tensors: copies
// this tp rank's slice into `target.tensor` (to its device and type). False, copying nothing,
// when the slice's shape is not the target's; the caller says what that means.
bool copy_local_shard(const ShardedTensor& target, const torch::Tensor& full, Communicator& tp);

}  // namespace trafficfm::distributed
