#include "distributed/tensor_parallel_layers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "core/rng.h"
#include "distributed/tensor_parallel_ops.h"

namespace trafficfm::distributed {
namespace {

std::int64_t split_size(std::int64_t n, Communicator& tp, const char* what) {
  if (n % tp.size() != 0) {
    throw std::invalid_argument(std::string(what) + " " + std::to_string(n) + " is not divisible by tp " +
                                std::to_string(tp.size()));
  }
  return n / tp.size();
}

// Kaiming-uniform like torch::nn::Linear, on the full shape, then this rank's slice: the split
// layer then starts from exactly the unsplit layer's weights for the same seed.
torch::Tensor linear_init(std::int64_t out, std::int64_t in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return torch::empty({out, in}).uniform_(-bound, bound);
}

}  // namespace

HeadParallelTable::HeadParallelTable(std::int64_t rows, std::int64_t heads, Communicator& tp_,
                                     double init_std)
    : tp(tp_) {
  local_heads = split_size(heads, tp, "attention heads");
  first_head = tp.rank() * local_heads;
  weight = register_parameter("weight", torch::empty({rows, local_heads}));
  torch::NoGradGuard no_grad;
  weight.copy_(torch::empty({rows, heads}).normal_(0.0, init_std).narrow(1, first_head, local_heads));
}

void HeadParallelTable::load_full(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  weight.copy_(w.narrow(1, first_head, local_heads));
}

torch::Tensor HeadParallelTable::forward(const torch::Tensor& ids) {
  return torch::nn::functional::embedding(ids, weight);
}

// The full initial table of a vocabulary padded past `real` rows: the real rows drawn as if
// unpadded (the same numbers at every tp, whose padding differs), then zero rows.
static torch::Tensor padded_rows(const torch::Tensor& real, std::int64_t rows) {
  if (real.size(0) >= rows) return real;
  return torch::cat({real, torch::zeros({rows - real.size(0), real.size(1)}, real.options())});
}

ColumnParallelLinear::ColumnParallelLinear(std::int64_t in, std::int64_t out, Communicator& tp_,
                                           bool with_bias, bool gather, std::int64_t real)
    : tp(tp_), gather_output(gather), real_rows(real) {
  const std::int64_t local = split_size(out, tp, "output features");
  weight = register_parameter("weight", torch::empty({local, in}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({local}));
  torch::NoGradGuard no_grad;
  const auto full = real >= 0 ? padded_rows(linear_init(real, in), out) : linear_init(out, in);
  weight.copy_(full.narrow(0, tp.rank() * local, local));
}

void ColumnParallelLinear::load_full(const torch::Tensor& w, const torch::Tensor& b) {
  torch::NoGradGuard no_grad;
  const std::int64_t local = weight.size(0);
  weight.copy_(w.narrow(0, tp.rank() * local, local));
  if (bias.defined()) bias.copy_(b.narrow(0, tp.rank() * local, local));
}

torch::Tensor ColumnParallelLinear::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(copy_to_tp(x, tp), weight, bias);
  return gather_output ? gather_from_tp(y, tp) : y;
}

RowParallelLinear::RowParallelLinear(std::int64_t in, std::int64_t out, Communicator& tp_, bool with_bias,
                                     bool parallel_input)
    : tp(tp_), input_is_parallel(parallel_input) {
  const std::int64_t local = split_size(in, tp, "input features");
  weight = register_parameter("weight", torch::empty({out, local}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  torch::NoGradGuard no_grad;
  const auto full = linear_init(out, in);
  weight.copy_(full.narrow(1, tp.rank() * local, local));
}

void RowParallelLinear::load_full(const torch::Tensor& w, const torch::Tensor& b) {
  torch::NoGradGuard no_grad;
  const std::int64_t local = weight.size(1);
  weight.copy_(w.narrow(1, tp.rank() * local, local));
  if (bias.defined()) bias.copy_(b);
}

torch::Tensor RowParallelLinear::forward(const torch::Tensor& x) {
  const auto shard = input_is_parallel ? x : scatter_to_tp(x, tp);
  auto y = reduce_from_tp(torch::nn::functional::linear(shard, weight), tp);
  return bias.defined() ? y + bias : y;
}

VocabParallelEmbedding::VocabParallelEmbedding(std::int64_t vocab, std::int64_t dim, Communicator& tp_,
                                               std::int64_t real)
    : tp(tp_), real_rows(real) {
  rows = split_size(vocab, tp, "vocabulary");
  first = tp.rank() * rows;
  weight = register_parameter("weight", torch::empty({rows, dim}));
  torch::NoGradGuard no_grad;
  const auto full = real >= 0 ? padded_rows(torch::randn({real, dim}), vocab) : torch::randn({vocab, dim});
  weight.copy_(full.narrow(0, first, rows));
}

void VocabParallelEmbedding::load_full(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  weight.copy_(w.narrow(0, first, rows));
}

torch::Tensor VocabParallelEmbedding::forward(const torch::Tensor& ids) {
  if (tp.size() == 1) return torch::embedding(weight, ids);
  const auto outside = (ids < first).logical_or(ids >= first + rows);
  const auto local = (ids - first).masked_fill(outside, 0);
  auto embedded = torch::embedding(weight, local).masked_fill(outside.unsqueeze(-1), 0.0);
  return reduce_from_tp(embedded, tp);
}

TensorParallelRng::TensorParallelRng(std::uint64_t seed, int dp_rank, int tp_rank)
    : replicated_(at::detail::createCPUGenerator(core::derive_seed(seed, 0x7e900000ULL + dp_rank))),
      split_(at::detail::createCPUGenerator(
          core::derive_seed(seed, 0x5b1100000000ULL + (dp_rank << 16) + tp_rank))) {}

namespace {
torch::Tensor dropout_with(const torch::Tensor& x, double p, bool training, at::Generator& gen) {
  if (!training || p <= 0) return x;
  const auto keep = at::bernoulli(torch::full(x.sizes(), 1.0 - p, x.options().device(torch::kCPU)), gen);
  return x * keep.to(x.device()) / (1.0 - p);
}
}  // namespace

torch::Tensor TensorParallelRng::dropout_replicated(const torch::Tensor& x, double p, bool training) {
  return dropout_with(x, p, training, replicated_);
}
torch::Tensor TensorParallelRng::dropout_split(const torch::Tensor& x, double p, bool training) {
  return dropout_with(x, p, training, split_);
}

ParallelSelfAttention::ParallelSelfAttention(std::int64_t dim, std::int64_t heads_, Communicator& tp)
    : heads(heads_), local_heads(split_size(heads_, tp, "attention heads")), head_dim(dim / heads_) {
  if (dim % heads != 0) throw std::invalid_argument("model dim must be a multiple of the heads");
  // QKV as [heads, 3, head_dim] rows so a contiguous row block holds whole heads' q, k and v.
  qkv = register_module("qkv", std::make_shared<ColumnParallelLinear>(dim, 3 * dim, tp, true, false));
  out = register_module("out", std::make_shared<RowParallelLinear>(dim, dim, tp, true, true));
}

torch::Tensor ParallelSelfAttention::forward(const torch::Tensor& x, const torch::Tensor& bias) {
  const auto b = x.size(0), t = x.size(1);
  auto qkv_local = qkv->forward(x).view({b, t, local_heads, 3, head_dim});
  auto q = qkv_local.select(3, 0).transpose(1, 2);  // [b, h, t, d]
  auto k = qkv_local.select(3, 1).transpose(1, 2);
  auto v = qkv_local.select(3, 2).transpose(1, 2);
#if TORCH_VERSION_MAJOR >= 2
  // LibTorch 2.x: the fused kernel (memory-efficient attention on GPUs) never materialises the
  // [b, h, t, t] scores and probabilities, which bound the batch on a GPU and cost most of its
  // memory traffic. The same softmax(q·kᵀ/√d + bias)·v as below.
  c10::optional<torch::Tensor> mask;
  if (bias.defined()) mask = bias.to(q.scalar_type());
  auto context = at::scaled_dot_product_attention(q, k, v, mask);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
  if (bias.defined()) scores = scores + bias;
  auto context = torch::matmul(scores.softmax(-1), v);
#endif
  return out->forward(context.transpose(1, 2).reshape({b, t, local_heads * head_dim}));
}

ParallelTransformerBlock::ParallelTransformerBlock(std::int64_t dim, std::int64_t heads, std::int64_t mlp_dim,
                                                   Communicator& tp) {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attention = register_module("attention", std::make_shared<ParallelSelfAttention>(dim, heads, tp));
  fc1 = register_module("fc1", std::make_shared<ColumnParallelLinear>(dim, mlp_dim, tp, true, false));
  fc2 = register_module("fc2", std::make_shared<RowParallelLinear>(mlp_dim, dim, tp, true, true));
}

torch::Tensor ParallelTransformerBlock::forward(const torch::Tensor& x) {
  auto h = x + attention->forward(ln1->forward(x));
  return h + fc2->forward(torch::gelu(fc1->forward(ln2->forward(h))));
}

}  // namespace trafficfm::distributed
