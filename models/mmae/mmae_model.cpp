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

double MmaeModel::forward_flops(bool masked_pass) const {
  const double views = masked_pass && config.flowmix ? 2.0 : 1.0;
  const std::int64_t t = MmaeConfig::kTokens + 1;
  double flops = 2.0 * MmaeConfig::kBytes * config.dim;  // patch embedding
  flops += config.depth * vit_block_flops(config.dim, config.mlp_dim(), t);
  flops += views * (2.0 * t * config.dim * config.decoder_dim +
                    config.decoder_depth * vit_block_flops(config.decoder_dim, config.decoder_mlp_dim(), t));
  if (config.pmp) {
    const double n = MmaeConfig::kTokens;
    flops += views * (config.decoder_depth *
                          vit_block_flops(config.decoder_dim, config.decoder_mlp_dim(), MmaeConfig::kTokens) +
                      2.0 * n * n * (2.0 * config.pmp_rank + 32.0 + 4.0));
  }
  return flops;
}

}  // namespace trafficfm::models
