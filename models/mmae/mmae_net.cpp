#include "models/mmae/mmae_net.h"

namespace trafficfm::models {

namespace {
torch::Tensor trunc_normal(std::vector<std::int64_t> shape) {
  return torch::randn(shape).clamp(-2, 2) * 0.02;
}
}  // namespace

MmaeEncoder::MmaeEncoder(const MmaeConfig& c, distributed::Communicator& tp) : config(c) {
  if (c.patch == "2d") {
    patch2d = register_module("patch2d", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, c.dim, 2).stride(2)));
  } else {
    patch1d = register_module(
        "patch1d",
        torch::nn::Conv1d(torch::nn::Conv1dOptions(1, c.dim, MmaeConfig::kPatch).stride(MmaeConfig::kPatch)));
  }
  cls_token = register_parameter("cls_token", trunc_normal({1, 1, c.dim}));
  pos_embed = register_parameter("pos_embed", trunc_normal({1, MmaeConfig::kTokens + 1, c.dim}));
  blocks = register_vit_blocks(*this, c.depth, c.dim, c.heads, c.mlp_dim(), tp);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
}

torch::Tensor MmaeEncoder::embed(const torch::Tensor& payload) {
  const auto b = payload.size(0);
  if (patch2d) return patch2d->forward(payload.view({b, 1, 40, 40})).flatten(2).transpose(1, 2);
  return patch1d->forward(payload.view({b, 1, MmaeConfig::kBytes})).transpose(1, 2);
}

torch::Tensor MmaeEncoder::forward(const torch::Tensor& tokens, const std::vector<torch::Tensor>& keep) {
  const auto b = tokens.size(0);
  auto x = tokens + pos_embed.narrow(1, 1, MmaeConfig::kTokens);
  auto cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({b, 1, config.dim});
  x = torch::cat({cls, x}, 1);
  for (std::size_t i = 0; i < blocks.size(); ++i)
    x = blocks[i]->forward(x, keep.empty() ? torch::Tensor() : keep[i]);
  return norm->forward(x);
}

MmaeDecoder::MmaeDecoder(const MmaeConfig& c, distributed::Communicator& tp) {
  embed = register_module("embed", torch::nn::Linear(c.dim, c.decoder_dim));
  mask_token = register_parameter("mask_token", trunc_normal({1, 1, c.decoder_dim}));
  pos_embed = register_parameter("pos_embed", trunc_normal({1, MmaeConfig::kTokens + 1, c.decoder_dim}));
  blocks =
      register_vit_blocks(*this, c.decoder_depth, c.decoder_dim, c.decoder_heads, c.decoder_mlp_dim(), tp);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.decoder_dim})));
  pred = register_module("pred", torch::nn::Linear(c.decoder_dim, MmaeConfig::kPatch));
}

torch::Tensor MmaeDecoder::features(const torch::Tensor& x) {
  auto h = x + pos_embed;
  for (auto& block : blocks) h = block->forward(h);
  return norm->forward(h).narrow(1, 1, MmaeConfig::kTokens);
}

torch::Tensor patchify(const torch::Tensor& payload, const std::string& patch) {
  const auto b = payload.size(0);
  if (patch == "2d") {  // 2x2 patches of the 40x40 matrix, row-major over the 20x20 grid
    return payload.view({b, 20, 2, 20, 2}).permute({0, 1, 3, 2, 4}).reshape({b, MmaeConfig::kTokens, 4});
  }
  return payload.view({b, MmaeConfig::kTokens, MmaeConfig::kPatch});
}

torch::Tensor token_packet_index(const std::string& patch) {
  auto index = torch::empty({MmaeConfig::kTokens}, torch::kLong);
  for (std::int64_t t = 0; t < MmaeConfig::kTokens; ++t) {
    // 1d: token t holds bytes [4t, 4t+4); 2d: grid row t/20 holds matrix rows 2(t/20)..+1.
    const std::int64_t first_byte = patch == "2d" ? (t / 20) * 2 * 40 : t * MmaeConfig::kPatch;
    index[t] = first_byte / 320;
  }
  return index;
}

}  // namespace trafficfm::models
