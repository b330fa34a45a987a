// Cross-entropy over logits split along the vocabulary (last dim, this tp rank's columns
// [rank·width, (rank+1)·width)), without gathering them, as Megatron's _VocabParallelCrossEntropy:
// one autograd function whose forward reduces the max, the sum of exponentials and the target
// logit across tp and keeps the softmax, and whose backward is softmax − one-hot, scaled by the
// incoming gradient. Against the same formula composed of autograd ops this saves about half the
// passes over the [tokens, vocabulary] tensor, which dominate a small model's step (the LM head
// of a 65k vocabulary). The argmax for token accuracy comes from the same max pass.
#pragma once
#include <torch/torch.h>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

struct VocabParallelLosses {
  torch::Tensor losses;  // per position, the shape of target (gradient flows to the logits)
  torch::Tensor hits;    // per position, 0/1 float: the argmax over the whole vocabulary is the target
};

// logits_shard: [..., width] float; target: int64, the shape of logits without its last dim,
// ids in [0, width · tp). The caller masks padding positions and reduces.
VocabParallelLosses vocab_parallel_losses(const torch::Tensor& logits_shard, const torch::Tensor& target,
                                          Communicator& tp);

// The per-position losses alone, and their mean.
torch::Tensor vocab_parallel_token_losses(const torch::Tensor& logits_shard, const torch::Tensor& target,
                                          Communicator& tp);
torch::Tensor vocab_parallel_cross_entropy(const torch::Tensor& logits_shard, const torch::Tensor& target,
                                           Communicator& tp);

}  // namespace trafficfm::distributed
