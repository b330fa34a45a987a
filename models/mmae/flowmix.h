// FlowMix: flows of a batch are paired by the similarity of their statistics, and a flow's
// masked token positions take its partner's token embeddings; the decoder then reconstructs
// both flows from the mixed views ("un-mixing"). The statistics encoder (BatchNorm over the 27
// statistics, two Conv1d layers, a 64-d projection, concatenated with the normalized
// statistics) only steers the pairing, which runs without gradient: as in the released code no
// loss reaches it, so it stays a fixed random encoder whose batch norms track the statistics.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace trafficfm::models {

struct FlowStatsEncoder : torch::nn::Module {
  FlowStatsEncoder(std::int64_t statistics, std::int64_t out_dim);
  torch::Tensor forward(const torch::Tensor& stats);  // [B, 27] -> [B, 27 + out_dim]
  std::int64_t embedding_dim() const { return statistics_ + out_dim_; }
  // Forward FLOPs of one flow's encoding (its convolutions and projection; no gradients).
  double forward_flops() const;
  torch::nn::BatchNorm1d input_norm{nullptr}, norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear project{nullptr};

 private:
  torch::Tensor encode(const torch::Tensor& stats);
  std::int64_t statistics_, out_dim_;
};

// Greedy mutual-best pairing on cosine similarity: repeatedly the most similar unpaired two
// flows become partners. Returns partner[i] (an involution; an odd one out is its own partner).
torch::Tensor mutual_best_pairs(const torch::Tensor& embedding);

}  // namespace trafficfm::models
