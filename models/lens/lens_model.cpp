#include "models/lens/lens_model.h"

#include <cmath>
#include <limits>

#include "distributed/tensor_parallel_ops.h"

namespace trafficfm::models {

T5Block::T5Block(const LensConfig& c, bool decoder, bool has_bias, distributed::Communicator& tp,
                 T5Dropout* dropout_)
    : dropout(dropout_) {
  // HF's layout: layer.0 self-attention, (decoder) layer.1 cross-attention, then the FFN.
  auto layers = register_module("layer", torch::nn::ModuleList());
  auto self_layer = std::make_shared<torch::nn::Module>();
  self_attention = self_layer->register_module(
      "SelfAttention", std::make_shared<T5Attention>(c.d_model, c.heads, c.d_kv, tp, dropout));
  if (has_bias) {
    relative_bias = self_attention->register_module(
        "relative_attention_bias",
        std::make_shared<RelativePositionBias>(c.heads, !decoder, tp, c.buckets, c.max_distance,
                                               1.0 / std::sqrt(c.d_model)));
  }
  self_norm = self_layer->register_module("layer_norm", std::make_shared<T5LayerNorm>(c.d_model));
  layers->push_back(self_layer);
  if (decoder) {
    auto cross_layer = std::make_shared<torch::nn::Module>();
    cross_attention = cross_layer->register_module(
        "EncDecAttention", std::make_shared<T5Attention>(c.d_model, c.heads, c.d_kv, tp, dropout));
    cross_norm = cross_layer->register_module("layer_norm", std::make_shared<T5LayerNorm>(c.d_model));
    layers->push_back(cross_layer);
  }
  auto ffn_layer = std::make_shared<torch::nn::Module>();
  ffn = ffn_layer->register_module("DenseReluDense",
                                   std::make_shared<GatedGeluFfn>(c.d_model, c.d_ff, tp, dropout));
  ffn_norm = ffn_layer->register_module("layer_norm", std::make_shared<T5LayerNorm>(c.d_model));
  layers->push_back(ffn_layer);
}

torch::Tensor T5Block::forward(const torch::Tensor& x, const torch::Tensor& self_bias,
                               const torch::Tensor& memory, const torch::Tensor& cross_mask) {
  const bool training = is_training();
  auto h = x + dropout->apply(self_attention->forward(self_norm->forward(x), {}, self_bias), training);
  if (cross_attention)
    h = h + dropout->apply(cross_attention->forward(cross_norm->forward(h), memory, cross_mask), training);
  return h + dropout->apply(ffn->forward(ffn_norm->forward(h)), training);
}

T5Stack::T5Stack(const LensConfig& c, bool decoder_, distributed::Communicator& tp, T5Dropout* dropout_)
    : decoder(decoder_), dropout(dropout_) {
  auto list = register_module("block", torch::nn::ModuleList());
  const std::int64_t layers = decoder ? c.decoder_layers : c.encoder_layers;
  for (std::int64_t i = 0; i < layers; ++i) {
    blocks.push_back(std::make_shared<T5Block>(c, decoder, i == 0, tp, dropout));
    list->push_back(blocks.back());
  }
  final_layer_norm = register_module("final_layer_norm", std::make_shared<T5LayerNorm>(c.d_model));
}

torch::Tensor T5Stack::forward(const torch::Tensor& x, const torch::Tensor& padding,
                               const torch::Tensor& memory, const torch::Tensor& memory_padding) {
  const auto length = x.size(1);
  const auto dtype = x.scalar_type();
  // The first block's bias serves the whole stack (one table per stack, as T5).
  const auto self_bias = blocks.front()->relative_bias->bias(length, length, x.device()) +
                         attention_mask(padding, length, decoder, dtype);
  torch::Tensor cross_mask;
  if (decoder) cross_mask = attention_mask(memory_padding, length, false, dtype);
  auto h = dropout->apply(x, is_training());
  for (auto& block : blocks) h = block->forward(h, self_bias, memory, cross_mask);
  return dropout->apply(final_layer_norm->forward(h), is_training());
}

LensModel::LensModel(const LensConfig& c, distributed::Communicator& tp_)
    : config(c), dropout(std::make_shared<T5Dropout>(c.dropout)), tp(tp_) {
  const std::int64_t vocab = c.padded_vocab(tp.size());
  shared = register_module(
      "shared", std::make_shared<distributed::VocabParallelEmbedding>(vocab, c.d_model, tp, c.vocab));
  if (c.segment_embedding)
    segment_embed = register_module("segment_embed", torch::nn::Embedding(c.segments, c.d_model));
  if (c.packet_embedding)
    packet_embed = register_module("packet_embed", torch::nn::Embedding(c.max_packets, c.d_model));
  encoder = register_module("encoder", std::make_shared<T5Stack>(c, false, tp, dropout.get()));
  decoder = register_module("decoder", std::make_shared<T5Stack>(c, true, tp, dropout.get()));
  if (!c.tie_embeddings) {
    lm_head = register_module("lm_head", std::make_shared<distributed::ColumnParallelLinear>(
                                             c.d_model, vocab, tp, false, false, c.vocab));
  }
}

torch::Tensor LensModel::encode(const LensInputs& in) {
  auto x = shared->forward(in.tokens);
  if (segment_embed && in.segment.defined()) x = x + segment_embed->forward(in.segment);
  if (packet_embed && in.packet.defined())
    x = x + packet_embed->forward(in.packet.clamp_max(config.max_packets - 1));
  return encoder->forward(x, in.padding, {}, {});
}

torch::Tensor LensModel::forward(const LensInputs& in, const torch::Tensor& decoder_tokens) {
  return decode(encode(in), in.padding, decoder_tokens);
}

double lens_forward_flops(const LensConfig& config, std::int64_t input_length, std::int64_t target_length,
                          bool lm_head) {
  const double d = static_cast<double>(config.d_model),
               inner = static_cast<double>(config.heads * config.d_kv);
  const double ffn = 2.0 * 3.0 * d * static_cast<double>(config.d_ff);  // wi_0, wi_1, wo
  const double in = static_cast<double>(input_length), out = static_cast<double>(target_length);
  const double projections = 2.0 * 4.0 * d * inner;  // q, k, v, o per token
  const double encoder_layer = in * (projections + ffn) + 2.0 * 2.0 * in * in * inner;
  const double decoder_layer = out * (projections + ffn) + 2.0 * 2.0 * out * out * inner   // self
                               + out * 2.0 * 2.0 * d * inner + in * 2.0 * 2.0 * d * inner  // cross q, o; k, v
                               + 2.0 * 2.0 * out * in * inner;                             // cross scores
  const double head = lm_head ? out * 2.0 * d * static_cast<double>(config.vocab) : 0.0;
  // No target: the decoder does not run at all (its cross-attention keys and values included).
  const double decoder_layers = target_length > 0 ? static_cast<double>(config.decoder_layers) : 0.0;
  return static_cast<double>(config.encoder_layers) * encoder_layer + decoder_layers * decoder_layer + head;
}

torch::Tensor LensModel::decode(const torch::Tensor& memory, const torch::Tensor& memory_padding,
                                const torch::Tensor& decoder_tokens) {
  return project(decoder->forward(shared->forward(decoder_tokens), {}, memory, memory_padding));
}

torch::Tensor LensModel::project(const torch::Tensor& decoder_states) {
  auto h = decoder_states;
  torch::Tensor logits;
  if (lm_head) {
    logits = lm_head->forward(h);
  } else {
    h = h * (1.0 / std::sqrt(static_cast<double>(config.d_model)));
    logits = torch::matmul(distributed::copy_to_tp(h, tp), shared->weight.t());
  }
  // Padding ids of the vocabulary (this rank's columns past the real vocabulary) never win.
  const std::int64_t first = shared->first, width = logits.size(-1);
  if (first + width > config.vocab) {
    const std::int64_t from = std::max<std::int64_t>(0, config.vocab - first);
    // In place and outside autograd: no copy of the [tokens, vocabulary] logits. The loss then
    // gives these columns exactly zero gradient (their softmax underflows to 0).
    torch::NoGradGuard no_grad;
    logits.narrow(-1, from, width - from).fill_(std::numeric_limits<float>::lowest());
  }
  return logits;
}

}  // namespace trafficfm::models
