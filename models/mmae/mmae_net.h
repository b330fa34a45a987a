// MMAE's networks (after Liu et al. and their public code): a ViT encoder over 400 byte
// tokens with a cls token, and a light decoder that predicts each token's 4 byte values.
// The encoder sees all 400 positions (masked ones replaced, by FlowMix with the partner flow's
// tokens, else by a learned mask token), as the released code does. Blocks are tensor-parallel.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "models/common/vit_block.h"
#include "models/mmae/mmae_config.h"

namespace trafficfm::models {

struct MmaeEncoder : torch::nn::Module {
  MmaeEncoder(const MmaeConfig& config, distributed::Communicator& tp);
  // payload [B, 1600] in [-1, 1] -> token embeddings [B, 400, dim] (before positions).
  torch::Tensor embed(const torch::Tensor& payload);
  // tokens [B, 400, dim] -> normalized features [B, 401, dim], cls first. keep: per-block
  // drop-path scales (empty: none).
  torch::Tensor forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& keep = {});
  MmaeConfig config;
  torch::nn::Conv1d patch1d{nullptr};
  torch::nn::Conv2d patch2d{nullptr};
  torch::Tensor cls_token, pos_embed;
  std::vector<std::shared_ptr<VitBlock>> blocks;
  torch::nn::LayerNorm norm{nullptr};
};

struct MmaeDecoder : torch::nn::Module {
  MmaeDecoder(const MmaeConfig& config, distributed::Communicator& tp);
  // x [V, 401, decoder_dim] (embedded, masked as wanted, positions not yet added) ->
  // normalized features [V, 400, decoder_dim] (cls dropped).
  torch::Tensor features(const torch::Tensor& x);
  torch::nn::Linear embed{nullptr}, pred{nullptr};
  torch::Tensor mask_token, pos_embed;
  std::vector<std::shared_ptr<VitBlock>> blocks;
  torch::nn::LayerNorm norm{nullptr};
};

// The reconstruction target: payload [B, 1600] -> [B, 400, 4] in the token order of `patch`.
torch::Tensor patchify(const torch::Tensor& payload, const std::string& patch);
// Which of the 5 packets each of the 400 tokens lies in (the YaTC layout: 320 bytes a packet).
torch::Tensor token_packet_index(const std::string& patch);

}  // namespace trafficfm::models
