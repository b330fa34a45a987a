#include "models/lens/t5_layers.h"

#include <limits>

#include "models/lens/relative_position.h"

namespace trafficfm::models {

T5LayerNorm::T5LayerNorm(std::int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor T5LayerNorm::forward(const torch::Tensor& x) {
  const auto x32 = x.to(torch::kFloat);
  const auto normalized = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * normalized.to(weight.scalar_type());
}

T5Attention::T5Attention(std::int64_t dim, std::int64_t heads_, std::int64_t d_kv_,
                         distributed::Communicator& tp, T5Dropout* dropout_)
    : heads(heads_), d_kv(d_kv_), dropout(dropout_) {
  using distributed::ColumnParallelLinear;
  const std::int64_t inner = heads * d_kv;
  q = register_module("q", std::make_shared<ColumnParallelLinear>(dim, inner, tp, false, false));
  k = register_module("k", std::make_shared<ColumnParallelLinear>(dim, inner, tp, false, false));
  v = register_module("v", std::make_shared<ColumnParallelLinear>(dim, inner, tp, false, false));
  o = register_module("o", std::make_shared<distributed::RowParallelLinear>(inner, dim, tp, false, true));
  local_heads = heads / tp.size();
  first_head = tp.rank() * local_heads;
}

torch::Tensor T5Attention::forward(const torch::Tensor& x, const torch::Tensor& memory,
                                   const torch::Tensor& bias) {
  const auto& source = memory.defined() ? memory : x;
  const auto batch = x.size(0), queries = x.size(1), keys = source.size(1);
  auto split = [&](const torch::Tensor& t, std::int64_t length) {
    return t.view({batch, length, local_heads, d_kv}).transpose(1, 2);  // [batch, heads, length, d_kv]
  };
  const auto qh = split(q->forward(x), queries), kh = split(k->forward(source), keys);
  const auto vh = split(v->forward(source), keys);
  auto scores = torch::matmul(qh, kh.transpose(-1, -2));  // no 1/sqrt(d_kv): T5
  if (bias.defined()) scores = scores + bias;
  auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(scores.scalar_type());
  if (dropout) probs = dropout->apply(probs, is_training(), 1, heads, first_head);
  const auto context = torch::matmul(probs, vh).transpose(1, 2).reshape({batch, queries, local_heads * d_kv});
  return o->forward(context);
}

torch::Tensor T5Attention::forward_cached(const torch::Tensor& x, const torch::Tensor& memory,
                                          const torch::Tensor& bias, KvCache& cache) {
  const auto batch = x.size(0), queries = x.size(1);
  auto split = [&](const torch::Tensor& t) {
    return t.view({batch, t.size(1), local_heads, d_kv}).transpose(1, 2);  // [batch, heads, length, d_kv]
  };
  if (memory.defined()) {
    if (!cache.k.defined()) {
      cache.k = split(k->forward(memory));
      cache.v = split(v->forward(memory));
    }
  } else {
    const auto kh = split(k->forward(x)), vh = split(v->forward(x));
    cache.k = cache.k.defined() ? torch::cat({cache.k, kh}, 2) : kh;
    cache.v = cache.v.defined() ? torch::cat({cache.v, vh}, 2) : vh;
  }
  auto scores = torch::matmul(split(q->forward(x)), cache.k.transpose(-1, -2));
  if (bias.defined()) scores = scores + bias;
  const auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(scores.scalar_type());
  const auto context =
      torch::matmul(probs, cache.v).transpose(1, 2).reshape({batch, queries, local_heads * d_kv});
  return o->forward(context);
}

RelativePositionBias::RelativePositionBias(std::int64_t heads, bool bidirectional_,
                                           distributed::Communicator& tp, std::int64_t buckets_,
                                           std::int64_t max_distance_, double init_std)
    : HeadParallelTable(buckets_, heads, tp, init_std),
      bidirectional(bidirectional_),
      buckets(buckets_),
      max_distance(max_distance_) {}

torch::Tensor RelativePositionBias::bias(std::int64_t queries, std::int64_t keys,
                                         const torch::Device& device) {
  auto& ids = bucket_cache_[{queries, keys}];
  if (!ids.defined() || ids.device() != device) {
    ids = relative_position_buckets(queries, keys, bidirectional, buckets, max_distance).to(device);
  }
  return HeadParallelTable::forward(ids).permute({2, 0, 1}).unsqueeze(0);  // [1, heads, q, k]
}

GatedGeluFfn::GatedGeluFfn(std::int64_t dim, std::int64_t d_ff_, distributed::Communicator& tp,
                           T5Dropout* dropout_)
    : d_ff(d_ff_), first(tp.rank() * (d_ff_ / tp.size())), dropout(dropout_) {
  using distributed::ColumnParallelLinear;
  wi_0 = register_module("wi_0", std::make_shared<ColumnParallelLinear>(dim, d_ff, tp, false, false));
  wi_1 = register_module("wi_1", std::make_shared<ColumnParallelLinear>(dim, d_ff, tp, false, false));
  wo = register_module("wo", std::make_shared<distributed::RowParallelLinear>(d_ff, dim, tp, false, true));
}

torch::Tensor GatedGeluFfn::forward(const torch::Tensor& x) {
  auto hidden = torch::gelu(wi_0->forward(x), "tanh") * wi_1->forward(x);
  if (dropout) hidden = dropout->apply(hidden, is_training(), -1, d_ff, first);
  return wo->forward(hidden);
}

torch::Tensor attention_mask(const torch::Tensor& key_padding, std::int64_t queries, bool causal,
                             torch::ScalarType dtype) {
  // key_padding [batch, keys] bool, true = padding (or undefined: none).
  const std::int64_t keys = key_padding.defined() ? key_padding.size(1) : queries;
  const auto device = key_padding.defined() ? key_padding.device() : torch::Device(torch::kCPU);
  auto blocked =
      torch::zeros({1, 1, queries, keys}, torch::TensorOptions().dtype(torch::kBool).device(device));
  if (key_padding.defined())
    blocked = blocked.logical_or(key_padding.view({key_padding.size(0), 1, 1, keys}));
  if (causal)
    blocked = blocked.logical_or(
        torch::ones({queries, keys}, blocked.options()).triu(1).view({1, 1, queries, keys}));
  // The dtype's lowest value (HF's finfo.min); -65504 is finite in half and bfloat16 alike.
  const double lowest = dtype == torch::kDouble  ? std::numeric_limits<double>::lowest()
                        : dtype == torch::kFloat ? std::numeric_limits<float>::lowest()
                                                 : -65504.0;
  return torch::zeros(blocked.sizes(), torch::TensorOptions().dtype(dtype).device(device))
      .masked_fill(blocked, lowest);
}

}  // namespace trafficfm::models
