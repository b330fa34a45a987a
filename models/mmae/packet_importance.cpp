#include "models/mmae/packet_importance.h"

namespace trafficfm::models {

namespace F = torch::nn::functional;

PacketImportance::PacketImportance(const MmaeConfig& c, distributed::Communicator& tp) : rank(c.pmp_rank) {
  const std::int64_t signal_dim = kSignalDim, fused = 2 * signal_dim, gate = kGate;
  time_embed = register_module("time_embed", torch::nn::Linear(1, signal_dim));
  length_embed = register_module("length_embed", torch::nn::Linear(1, signal_dim));
  time_pos =
      register_parameter("time_pos", torch::randn({1, MmaeConfig::kTokens, signal_dim}).clamp(-2, 2) * 0.02);
  length_pos = register_parameter("length_pos",
                                  torch::randn({1, MmaeConfig::kTokens, signal_dim}).clamp(-2, 2) * 0.02);
  fuse = register_module("fuse", torch::nn::Linear(fused, fused));
  fuse_norm = register_module("fuse_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({fused})));
  phi1 = register_module("phi1", torch::nn::Linear(fused, 64));
  phi2 = register_module("phi2", torch::nn::Linear(64, rank));
  auto low_rank = [&](const char* name) {
    return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(rank, rank).bias(false)));
  };
  u_support = low_rank("u_support");
  v_support = low_rank("v_support");
  u_suppress = low_rank("u_suppress");
  v_suppress = low_rank("v_suppress");
  context_gate = register_module("context_gate", torch::nn::Linear(fused, gate / 2));
  saliency_gate = register_module("saliency_gate", torch::nn::Linear(1, gate / 4));
  const std::int64_t gate_in = 1 + gate / 2 + gate / 4;
  selector_a =
      register_module("selector_a", torch::nn::Linear(torch::nn::LinearOptions(gate_in, gate).bias(false)));
  selector_b =
      register_module("selector_b", torch::nn::Linear(torch::nn::LinearOptions(gate_in, gate).bias(false)));
  gamma_support = register_parameter("gamma_support", torch::zeros({1}));
  gamma_suppress = register_parameter("gamma_suppress", torch::zeros({1}));
  blocks =
      register_vit_blocks(*this, c.decoder_depth, c.decoder_dim, c.decoder_heads, c.decoder_mlp_dim(), tp);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.decoder_dim})));
  head = register_module("head", torch::nn::Linear(c.decoder_dim, MmaeConfig::kPatch));
}

torch::Tensor PacketImportance::attention_bias(const torch::Tensor& query, const torch::Tensor& signals) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(rank));
  auto t = time_embed->forward(signals.narrow(-1, 1, 1)) + time_pos;
  auto l = length_embed->forward(signals.narrow(-1, 0, 1)) + length_pos;
  auto merged = torch::gelu(fuse_norm->forward(fuse->forward(torch::cat({t, l}, -1))));
  auto z = phi2->forward(torch::gelu(phi1->forward(merged)));
  auto support = torch::matmul(u_support->forward(z), v_support->forward(z).transpose(1, 2)) * scale;
  auto suppress = torch::matmul(u_suppress->forward(z), v_suppress->forward(z).transpose(1, 2)) * scale;
  torch::Tensor similarity;
  {
    torch::NoGradGuard no_grad;
    auto qn = F::normalize(query, F::NormalizeFuncOptions().dim(-1));
    auto sim = torch::relu(torch::matmul(qn, qn.transpose(1, 2)));
    sim = sim - torch::diag_embed(torch::diagonal(sim, 0, 1, 2));
    similarity = sim.mean(-1, true);
  }
  auto saliency = saliency_gate->forward(query.norm(2, -1, true));
  auto gate_in = torch::cat({similarity, context_gate->forward(merged), saliency}, -1);
  auto p_support = torch::sigmoid(
      torch::matmul(selector_a->forward(gate_in), selector_b->forward(gate_in).transpose(1, 2)));
  auto bias = p_support * (-F::softplus(gamma_support) * support) +
              (1 - p_support) * (F::softplus(gamma_suppress) * suppress);
  return bias.clamp(-5, 5).unsqueeze(1);
}

torch::Tensor PacketImportance::hidden(const torch::Tensor& tokens, const torch::Tensor& query,
                                       const torch::Tensor& signals) {
  const auto bias = attention_bias(query, signals);
  auto h = tokens;
  for (auto& block : blocks) h = block->forward(h, {}, bias);
  return h;
}

torch::Tensor PacketImportance::predict(const torch::Tensor& hidden_features) {
  return head->forward(norm->forward(hidden_features)).mean(-1);
}

torch::Tensor ranking_loss(const torch::Tensor& predicted, const torch::Tensor& real,
                           const torch::Tensor& pairs) {
  auto pi = predicted.gather(1, pairs.select(2, 0)), pj = predicted.gather(1, pairs.select(2, 1));
  auto ri = real.gather(1, pairs.select(2, 0)), rj = real.gather(1, pairs.select(2, 1));
  auto target = (ri > rj).to(predicted.scalar_type());
  return F::binary_cross_entropy_with_logits(pi - pj, target);
}

}  // namespace trafficfm::models
