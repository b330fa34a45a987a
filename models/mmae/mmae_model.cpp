#include "models/mmae/mmae_model.h"

namespace trafficfm::models {

MmaeModel::MmaeModel(const MmaeConfig& c, distributed::Communicator& tp) : config(c) {
  encoder = register_module("encoder", std::make_shared<MmaeEncoder>(c, tp));
  decoder = register_module("decoder", std::make_shared<MmaeDecoder>(c, tp));
  if (!c.flowmix)
    encoder_mask_token =
        register_parameter("encoder_mask_token", torch::randn({1, 1, c.dim}).clamp(-2, 2) * 0.02);
  if (c.pmp) pmp = register_module("pmp", std::make_shared<PacketImportance>(c, tp));
}

MmaeOutput MmaeModel::clean(const MmaeInputs& in) {
  return decode(encoder->forward(encoder->embed(in.payload)), in, {}, {});
}

MmaeOutput MmaeModel::masked(const MmaeInputs& in, const torch::Tensor& mask, const torch::Tensor& partner,
                             const std::vector<torch::Tensor>& keep) {
  auto tokens = encoder->embed(in.payload);
  const auto m = mask.unsqueeze(-1);
  // Masked positions: the partner flow's tokens (FlowMix) or the learned mask token.
  const auto filler =
      partner.defined() ? tokens.index_select(0, partner) : encoder_mask_token.expand_as(tokens);
  tokens = tokens * (1 - m) + filler * m;
  return decode(encoder->forward(tokens, keep), in, mask, partner);
}

MmaeOutput MmaeModel::decode(const torch::Tensor& latent, const MmaeInputs& in, const torch::Tensor& mask,
                             const torch::Tensor& partner) {
  auto x = decoder->embed->forward(latent);  // [B, 401, Dd]
  const auto b = x.size(0);
  torch::Tensor views = x, signals = in.signals;
  torch::Tensor m;
  if (mask.defined()) {
    m = mask.unsqueeze(-1);
    auto cls = x.narrow(1, 0, 1), body = x.narrow(1, 1, MmaeConfig::kTokens);
    const auto token = decoder->mask_token.expand_as(body);
    // View 1 keeps the visible tokens; with FlowMix view 2 keeps the masked (mixed-in) ones.
    views = torch::cat({cls, body * (1 - m) + token * m}, 1);
    if (partner.defined()) {
      views = torch::cat({views, torch::cat({cls, body * m + token * (1 - m)}, 1)}, 0);
      signals = torch::cat({signals, signals}, 0);
    }
  }
  // Un-mixing: a flow's masked positions come from its own view 1; its visible positions from
  // view 2 of its partner, where its tokens were mixed in.
  auto unmix = [&](const torch::Tensor& t) {
    if (!partner.defined()) return t;
    return t.narrow(0, 0, b) * m + t.narrow(0, b, b).index_select(0, partner) * (1 - m);
  };
  const auto features = decoder->features(views);
  const auto reconstruction = decoder->pred->forward(features);
  MmaeOutput out;
  out.reconstruction = unmix(reconstruction);
  out.features = unmix(features);
  if (pmp) {
    const auto tokens = (views + decoder->pos_embed).narrow(1, 1, MmaeConfig::kTokens);
    out.predicted_loss = pmp->predict(unmix(pmp->hidden(tokens, reconstruction, signals)));
  }
  return out;
}

PassFlops MmaeModel::pass_flops(bool masked_pass) const {
  const double views = masked_pass && config.flowmix ? 2.0 : 1.0;
  const double t = MmaeConfig::kTokens + 1, n = MmaeConfig::kTokens, patch = MmaeConfig::kPatch;
  const double d = static_cast<double>(config.dim), dd = static_cast<double>(config.decoder_dim);
  PassFlops f;
  f.fixed_input += 2.0 * MmaeConfig::kBytes * d;  // patch embedding of the raw bytes
  f.trained += static_cast<double>(config.depth) *
               vit_block_flops(config.dim, config.mlp_dim(), MmaeConfig::kTokens + 1);
  f.trained += 2.0 * t * d * dd;  // decoder embedding, once: the views share it
  f.trained +=
      views * (static_cast<double>(config.decoder_depth) *
                   vit_block_flops(config.decoder_dim, config.decoder_mlp_dim(), MmaeConfig::kTokens + 1) +
               2.0 * n * dd * patch);  // blocks and the pixel head, per view
  if (config.pmp) {
    // PacketImportance, per view (its sizes: packet_importance.h).
    const double signal = PacketImportance::kSignalDim, fused = 2 * signal, gate = PacketImportance::kGate;
    const double rank = static_cast<double>(config.pmp_rank), gate_in = 1 + gate / 2 + gate / 4;
    PassFlops v;
    v.fixed_input += 2.0 * 2.0 * n * signal;  // time and length embeddings of the raw signals
    v.trained += 2.0 * n * (fused * fused + fused * 64 + 64 * rank + 4 * rank * rank);  // fuse, phi, u/v
    v.trained += 2.0 * 2.0 * n * n * rank;                                              // support, suppress
    v.no_grad += 2.0 * n * n * patch;                                                   // token similarity
    v.trained += 2.0 * n * (gate / 4 + fused * gate / 2 + 2 * gate_in * gate) + 2.0 * n * n * gate;  // gates
    v.trained += static_cast<double>(config.decoder_depth) *
                 vit_block_flops(config.decoder_dim, config.decoder_mlp_dim(), MmaeConfig::kTokens);
    f.trained += views * v.trained;
    f.fixed_input += views * v.fixed_input;
    f.no_grad += views * v.no_grad;
    f.trained += 2.0 * n * dd * patch;  // the loss head, on the un-mixed features
  }
  return f;
}

}  // namespace trafficfm::models
