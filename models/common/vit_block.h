// A pre-norm ViT block on the tensor-parallel layers (heads and MLP split across tp ranks):
// x + drop_path(attn(ln(x), bias)), then x + drop_path(mlp(ln(x))). Drop path takes per-sample
// scales for each branch, drawn independently (as timm's and MMAE's blocks do), computed by the
// caller from per-sample random numbers (models/common/sample_random.h), so they are the same on
// every tp rank and for a sample on any dp rank.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/tensor_parallel_layers.h"

namespace trafficfm::models {

struct VitBlock : torch::nn::Module {
  VitBlock(std::int64_t dim, std::int64_t heads, std::int64_t mlp_dim, distributed::Communicator& tp);
  // keep: [batch, 2] drop-path scales (0 or 1/(1-p)) of the attention and the MLP branch, or
  // undefined for none; bias: optional
  // attention-score bias [batch, 1, seq, seq].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep = {},
                        const torch::Tensor& bias = {});
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  std::shared_ptr<distributed::ParallelSelfAttention> attention;
  std::shared_ptr<distributed::ColumnParallelLinear> fc1;
  std::shared_ptr<distributed::RowParallelLinear> fc2;
};

// `count` blocks registered in `owner` as the module list "blocks" (blocks.0, blocks.1, ...).
std::vector<std::shared_ptr<VitBlock>> register_vit_blocks(torch::nn::Module& owner, std::int64_t count,
                                                           std::int64_t dim, std::int64_t heads,
                                                           std::int64_t mlp_dim,
                                                           distributed::Communicator& tp);

// Forward FLOPs of one VitBlock on `tokens` tokens (matmuls only).
double vit_block_flops(std::int64_t dim, std::int64_t mlp_dim, std::int64_t tokens);

}  // namespace trafficfm::models
