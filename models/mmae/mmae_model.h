// The MMAE pretraining model: encoder, decoder, the encoder's mask token (without FlowMix) and
// the packet-importance predictor (with PMP). Two forward passes: `clean` (the whole flow, as
// the teacher sees it) and `masked` (the student's mixed, masked view, un-mixed after decoding).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "models/mmae/mmae_config.h"
#include "models/mmae/mmae_inputs.h"
#include "models/mmae/mmae_net.h"
#include "models/mmae/packet_importance.h"

namespace trafficfm::models {

struct MmaeOutput {
  torch::Tensor reconstruction;  // [B, 400, 4]
  torch::Tensor features;        // decoder features [B, 400, decoder_dim]
  torch::Tensor predicted_loss;  // [B, 400]; undefined without PMP
};

// Matrix-product FLOPs (2 per multiply-add) of a pass, split by what training's backward adds:
// a product of two operands in the graph costs twice its forward again (both gradients), one
// whose input needs no gradient (raw bytes, packet signals) once (the weight's), and one taken
// under no_grad inside the pass nothing. Elementwise work, norms and softmax are not counted.
struct PassFlops {
  double trained = 0, fixed_input = 0, no_grad = 0;
  double training() const { return 3.0 * trained + 2.0 * fixed_input + no_grad; }
  double forward() const { return trained + fixed_input + no_grad; }
};

struct MmaeModel : torch::nn::Module {
  MmaeModel(const MmaeConfig& config, distributed::Communicator& tp);
  MmaeOutput clean(const MmaeInputs& in);
  // mask [B, 400] (1 = masked); partner [B] (FlowMix pairing) or undefined; keep: per-block
  // drop-path scales or empty.
  MmaeOutput masked(const MmaeInputs& in, const torch::Tensor& mask, const torch::Tensor& partner,
                    const std::vector<torch::Tensor>& keep);
  // Matrix-product FLOPs of one sample through `masked` (two decoder views with FlowMix) or
  // `clean`, by what a backward pass adds (PassFlops).
  PassFlops pass_flops(bool masked_pass) const;

  MmaeConfig config;
  std::shared_ptr<MmaeEncoder> encoder;
  std::shared_ptr<MmaeDecoder> decoder;
  torch::Tensor encoder_mask_token;  // without FlowMix
  std::shared_ptr<PacketImportance> pmp;

 private:
  MmaeOutput decode(const torch::Tensor& latent, const MmaeInputs& in, const torch::Tensor& mask,
                    const torch::Tensor& partner);
};

}  // namespace trafficfm::models
