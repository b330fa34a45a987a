// PMP, the packet-importance mask predictor: a 2-block transformer over the decoder's input
// tokens that predicts each token's reconstruction loss. Its attention gets a bias built from
// per-token packet signals (the packet's length and time, embedded and fused): two low-rank
// (rank 16) bilinear maps give a "support" and a "suppress" bias, mixed by a sigmoid gate over
// token similarity, the statistics context and token saliency, and clamped to +-5. Trained by
// a pairwise ranking loss against the real per-token error; the trainer then masks the tokens
// predicted hardest first, ramping in over training (models/mmae/mmae_task.h).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "models/common/vit_block.h"
#include "models/mmae/mmae_config.h"

namespace trafficfm::models {

struct PacketImportance : torch::nn::Module {
  PacketImportance(const MmaeConfig& config, distributed::Communicator& tp);
  // tokens: the decoder's input [V, 400, decoder_dim] (positions added, cls dropped);
  // query: the decoder's predictions [V, 400, 4]; signals: [V, 400, 2] (packet length, time).
  // Returns the predicted per-token loss before un-mixing features: [V, 400, decoder_dim].
  torch::Tensor hidden(const torch::Tensor& tokens, const torch::Tensor& query, const torch::Tensor& signals);
  // Hidden features (un-mixed where needed) -> predicted loss [B, 400].
  torch::Tensor predict(const torch::Tensor& hidden);
  torch::Tensor attention_bias(const torch::Tensor& query, const torch::Tensor& signals);

  static constexpr std::int64_t kSignalDim = 64, kGate = 32;  // per-token signal and gate widths
  std::int64_t rank;
  torch::nn::Linear time_embed{nullptr}, length_embed{nullptr}, fuse{nullptr};
  torch::nn::LayerNorm fuse_norm{nullptr};
  torch::Tensor time_pos, length_pos;
  torch::nn::Linear phi1{nullptr}, phi2{nullptr};
  torch::nn::Linear u_support{nullptr}, v_support{nullptr}, u_suppress{nullptr}, v_suppress{nullptr};
  torch::nn::Linear context_gate{nullptr}, saliency_gate{nullptr}, selector_a{nullptr}, selector_b{nullptr};
  torch::Tensor gamma_support, gamma_suppress;
  std::vector<std::shared_ptr<VitBlock>> blocks;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};
};

// Pairwise ranking loss: for random token pairs (i, j) of each flow, BCE of sigmoid(p_i - p_j)
// against [loss_i > loss_j]. `pairs`: [B, K, 2] token indices.
torch::Tensor ranking_loss(const torch::Tensor& predicted, const torch::Tensor& real,
                           const torch::Tensor& pairs);

}  // namespace trafficfm::models
