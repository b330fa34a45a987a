// The generation task's examples (NetBench-style next-packet generation) from one micro-batch
// of the lens corpus: for a sample of K >= 2 packets, the encoder reads its first K - 1 packets
// (then </s>) and the decoder's target is packet K's header tokens, then </s>. A sample of one
// packet has nothing to predict: its target is masked out (weight 0).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "datasets/loader/loader.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

struct NextPacketExamples {
  LensInputs input;             // [B, L_in]
  torch::Tensor decoder_input;  // [B, L_out]: target shifted right behind <pad>
  torch::Tensor target;         // [B, L_out], <pad> past the end
  torch::Tensor target_mask;    // [B, L_out] float: 1 = a target token of a usable sample
  double target_tokens = 0;
  // Per row, unpadded: the encoder's ids, packet K's header tokens (the truth) and packet
  // K - 1's (the copy-previous baseline); `usable`: the sample has >= 2 packets.
  std::vector<std::vector<std::int32_t>> context, real_header, previous_header;
  std::vector<bool> usable;
};

NextPacketExamples next_packet_examples(const datasets::Batch& batch, const torch::Device& device);

}  // namespace trafficfm::models
