// Megatron-style 1-D tensor-parallel layers over the tp communicator (model math stays in
// models/; these are the building blocks). At tp = 1 they are the plain layers and never talk.
// Each layer can take its shard from the full, unsplit weights (load_full) so tests and
// checkpoint resharding compare against the unsplit layer.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

// Output features split across tp ranks: Y_r = X W_r^T + b_r. With gather_output the full Y
// is assembled on every rank; otherwise Y stays split (the input of a RowParallelLinear).
struct ColumnParallelLinear : torch::nn::Module {
  // real_rows >= 0: a vocabulary head padded past that output row (initialized as if unpadded).
  ColumnParallelLinear(std::int64_t in, std::int64_t out, Communicator& tp, bool bias = true,
                       bool gather_output = true, std::int64_t real_rows = -1);
  torch::Tensor forward(const torch::Tensor& x);
  void load_full(const torch::Tensor& weight, const torch::Tensor& bias);  // [out, in], [out]
  torch::Tensor weight, bias;
  Communicator& tp;
  bool gather_output;
  std::int64_t real_rows = -1;  // >= 0: a vocabulary head (no bias) padded past this output row
};

// Input features split across tp ranks: Y = sum_r X_r W_r^T + b (b replicated, added once).
struct RowParallelLinear : torch::nn::Module {
  RowParallelLinear(std::int64_t in, std::int64_t out, Communicator& tp, bool bias = true,
                    bool input_is_parallel = false);
  torch::Tensor forward(const torch::Tensor& x);
  void load_full(const torch::Tensor& weight, const torch::Tensor& bias);
  torch::Tensor weight, bias;
  Communicator& tp;
  bool input_is_parallel;
};

// Vocabulary rows split across tp ranks; ids outside this rank's range contribute zeros.
struct VocabParallelEmbedding : torch::nn::Module {
  // real_rows >= 0: `vocab` is padded past that row; the real rows are drawn as if unpadded,
  // so every tp (whose padding differs) starts from the same table.
  VocabParallelEmbedding(std::int64_t vocab, std::int64_t dim, Communicator& tp, std::int64_t real_rows = -1);
  torch::Tensor forward(const torch::Tensor& ids);
  void load_full(const torch::Tensor& weight);
  torch::Tensor weight;
  Communicator& tp;
  std::int64_t first = 0, rows = 0;
  std::int64_t real_rows = -1;  // >= 0: the vocabulary is padded past this row (tensor_parallel_state.h)
};

// A table [rows, heads] whose columns (one per attention head) are split across tp ranks with
// the heads: T5's per-head relative position bias, where each rank adds the bias of its own
// heads to its own attention scores. No communication: the ids are the same on every tp rank
// and each rank's gradient is its own heads' columns. Initialized N(0, init_std) on the full
// shape, then sliced, so a split table starts from the unsplit one for the same seed.
struct HeadParallelTable : torch::nn::Module {
  HeadParallelTable(std::int64_t rows, std::int64_t heads, Communicator& tp, double init_std = 1.0);
  // ids (any shape, int64 in [0, rows)) -> [..., local heads]
  torch::Tensor forward(const torch::Tensor& ids);
  void load_full(const torch::Tensor& weight);  // [rows, heads]
  torch::Tensor weight;                         // [rows, heads / tp]
  Communicator& tp;
  std::int64_t first_head = 0, local_heads = 0;
};

// Dropout whose mask is the same on every tp rank (replicated activations) or differs per tp
// rank (split activations); both generators are seeded from (seed, dp rank, tp rank). They are
// not in checkpoints: only the tensor-parallel test uses this class so far (MMAE draws its
// randomness per sample, models/common/sample_random.h). A model that trains with it must
// carry both states in its checkpoint for exact resume.
class TensorParallelRng {
 public:
  TensorParallelRng(std::uint64_t seed, int dp_rank, int tp_rank);
  torch::Tensor dropout_replicated(const torch::Tensor& x, double p, bool training);
  torch::Tensor dropout_split(const torch::Tensor& x, double p, bool training);
  at::Generator& replicated() { return replicated_; }
  at::Generator& split() { return split_; }

 private:
  at::Generator replicated_, split_;
};

// Self-attention with heads split across tp ranks: fused QKV column-parallel (heads/tp heads
// per rank), output projection row-parallel.
struct ParallelSelfAttention : torch::nn::Module {
  ParallelSelfAttention(std::int64_t dim, std::int64_t heads, Communicator& tp);
  // x: [batch, seq, dim]; bias (optional): added to the attention scores, [batch, 1, seq, seq]
  // (the same for every head, so each tp rank adds it to its own heads).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias = {});
  std::shared_ptr<ColumnParallelLinear> qkv;
  std::shared_ptr<RowParallelLinear> out;
  std::int64_t heads, local_heads, head_dim;
};

// A pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)), MLP column -> GELU -> row.
struct ParallelTransformerBlock : torch::nn::Module {
  ParallelTransformerBlock(std::int64_t dim, std::int64_t heads, std::int64_t mlp_dim, Communicator& tp);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  std::shared_ptr<ParallelSelfAttention> attention;
  std::shared_ptr<ColumnParallelLinear> fc1;
  std::shared_ptr<RowParallelLinear> fc2;
};

}  // namespace trafficfm::distributed
