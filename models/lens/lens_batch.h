// One micro-batch of the `lens` corpus turned into Lens's pretraining examples (the data side
// of MSP + POP + HTP, no model). Per sample, from its own key (models/common/sample_random.h):
//  - one draw picks its packet objective: POP with probability pop_share (>= 2 packets), else
//    HTP with probability htp_share (>= 2 packets), else none;
//  - an HTP sample is a pair: its first `cut` packets with its own later packets (positive,
//    probability 1/2) or with the later packets of the next HTP sample of this micro-batch
//    (negative). `cut` is uniform in [1, min(packets of both) - 1];
//  - MSP's span corruption (models/lens/span_corruption.h) then runs on every sample, the
//    rearranged ones included. A sentinel takes the segment and packet index of the first
//    token it hides.
// The encoder input is padded to the batch's longest, the decoder target likewise; T5 feeds
// the decoder the target shifted right behind <pad>.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "datasets/loader/loader.h"
#include "models/lens/lens_config.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

struct LensExamples {
  LensInputs input;             // [B, L_in]
  torch::Tensor decoder_input;  // [B, L_out] int64
  torch::Tensor target;         // [B, L_out] int64, <pad> where nothing is predicted
  torch::Tensor target_mask;    // [B, L_out] float, 1 = a target token
  torch::Tensor pop_position;   // [B, 3] int64: encoder position of the i-th <pkt> (0 if none)
  torch::Tensor pop_label;      // [B, 3] float: packet i is in its original place
  torch::Tensor pop_mask;       // [B, 3] float: a POP sample that has packet i
  torch::Tensor eos_position;   // [B] int64: the input's </s>
  torch::Tensor htp_label;      // [B] float: 1 = both halves of one flow
  torch::Tensor htp_mask;       // [B] float: an HTP sample
  double target_tokens = 0;     // sum of target_mask
  double pop_examples = 0;      // sum of pop_mask (host counts: no device read)
  double htp_examples = 0;      // sum of htp_mask
  double source_tokens = 0;     // tokens of the samples as stored (before corruption)
};

std::vector<std::string> lens_columns();

LensExamples lens_examples(const datasets::Batch& batch, const LensObjective& objective, std::uint64_t seed,
                           const torch::Device& device);

}  // namespace trafficfm::models
