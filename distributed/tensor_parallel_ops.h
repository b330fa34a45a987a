// The conjugate communication operators of Megatron-style 1-D tensor parallelism, as autograd
// functions over the tensor-parallel communicator:
//   copy_to_tp      forward: identity           backward: all-reduce (sum)
//   reduce_from_tp  forward: all-reduce (sum)   backward: identity
//   gather_from_tp  forward: all-gather, last dim   backward: keep this rank's slice
//   scatter_to_tp   forward: keep this rank's slice backward: all-gather, last dim
// With a communicator of size 1 every one of them is the identity and talks to nobody.
#pragma once
#include <torch/torch.h>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

torch::Tensor copy_to_tp(const torch::Tensor& x, Communicator& tp);
torch::Tensor reduce_from_tp(const torch::Tensor& x, Communicator& tp);
torch::Tensor gather_from_tp(const torch::Tensor& x, Communicator& tp);
torch::Tensor scatter_to_tp(const torch::Tensor& x, Communicator& tp);

// All-reduce of a tensor outside autograd (statistics, max for numerics).
torch::Tensor all_reduce_detached(const torch::Tensor& x, Communicator& tp, ReduceOp op);

}  // namespace trafficfm::distributed
