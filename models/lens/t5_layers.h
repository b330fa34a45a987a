// T5 v1.1's layers on the tensor-parallel layers (heads and FFN split across tp ranks), under
// Hugging Face's T5 parameter names (q, k, v, o; wi_0, wi_1, wo; relative_attention_bias):
//  - T5LayerNorm: RMSNorm, x / sqrt(mean(x²) + eps) · weight, in float32; no mean, no bias;
//  - T5Attention: no biases, and no 1/sqrt(d_kv) scaling of the scores (T5 folds it into the
//    initialization); scores + position bias + additive mask, softmax in float32. Self-attention
//    (keys from x) or cross-attention (keys from the encoder states);
//  - RelativePositionBias: one table [buckets, heads] per stack, split with the heads, giving
//    each rank [1, local heads, queries, keys] (models/lens/relative_position.h);
//  - GatedGeluFfn: wo(gelu_tanh(wi_0 x) · wi_1 x), the "gated-gelu" feed-forward.
// Attention and FFN take the model's T5Dropout (models/lens/t5_dropout.h; none: no dropout).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "distributed/tensor_parallel_layers.h"
#include "models/lens/t5_dropout.h"

namespace trafficfm::models {

struct T5LayerNorm : torch::nn::Module {
  explicit T5LayerNorm(std::int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};

// Keys and values of one attention layer kept across decoding steps: [batch, local heads,
// length, d_kv]. Self-attention appends each new position's; cross-attention computes the
// encoder's once.
struct KvCache {
  torch::Tensor k, v;
};

struct T5Attention : torch::nn::Module {
  T5Attention(std::int64_t dim, std::int64_t heads, std::int64_t d_kv, distributed::Communicator& tp,
              T5Dropout* dropout = nullptr);
  // x [batch, queries, dim]; memory: the keys' source [batch, keys, dim] (undefined: x itself);
  // bias: [1 or batch, local heads, queries, keys], position bias and additive mask together.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& bias);
  // Incremental decoding: x holds the new positions only. Self-attention (memory undefined)
  // appends their keys and values to `cache`; cross-attention fills it from memory once.
  torch::Tensor forward_cached(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& bias,
                               KvCache& cache);
  std::shared_ptr<distributed::ColumnParallelLinear> q, k, v;
  std::shared_ptr<distributed::RowParallelLinear> o;
  std::int64_t heads, local_heads, first_head, d_kv;
  T5Dropout* dropout;  // on the attention probabilities (training only)
};

// The table itself is this module's `weight` [buckets, heads], as in Hugging Face's T5.
struct RelativePositionBias : distributed::HeadParallelTable {
  RelativePositionBias(std::int64_t heads, bool bidirectional, distributed::Communicator& tp,
                       std::int64_t buckets = 32, std::int64_t max_distance = 128, double init_std = 1.0);
  // [1, local heads, queries, keys] on `device`.
  torch::Tensor bias(std::int64_t queries, std::int64_t keys, const torch::Device& device);
  bool bidirectional;
  std::int64_t buckets, max_distance;

 private:
  std::map<std::pair<std::int64_t, std::int64_t>, torch::Tensor> bucket_cache_;  // per shape
};

struct GatedGeluFfn : torch::nn::Module {
  GatedGeluFfn(std::int64_t dim, std::int64_t d_ff, distributed::Communicator& tp,
               T5Dropout* dropout = nullptr);
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t d_ff, first;  // the whole width and this rank's first column
  T5Dropout* dropout;        // on the gated hidden state (training only)
  std::shared_ptr<distributed::ColumnParallelLinear> wi_0, wi_1;
  std::shared_ptr<distributed::RowParallelLinear> wo;
};

// An additive mask [batch or 1, 1, queries, keys]: 0 where a query may attend, the dtype's
// lowest value where it may not (padding keys; with `causal`, keys after the query).
torch::Tensor attention_mask(const torch::Tensor& key_padding, std::int64_t queries, bool causal,
                             torch::ScalarType dtype);

}  // namespace trafficfm::models
