// Lens's network: a T5 v1.1 encoder-decoder on the tensor-parallel layers, under Hugging Face's
// T5 parameter names (shared, encoder.block.N.layer.0.SelfAttention.q, ..., lm_head).
//  - Input embedding: token (vocabulary-parallel) + header/payload segment + packet index, each
//    extra embedding switchable; with both off the model is exactly T5 v1.1.
//  - Encoder blocks: x + SelfAttention(norm(x)), x + DenseReluDense(norm(x)); the first block's
//    self-attention holds the stack's relative position bias (bidirectional), shared by all
//    blocks; a final norm. Decoder blocks add EncDecAttention between the two, and their bias
//    is causal.
//  - LM head untied by default (T5 v1.1). Tied: the decoder output is scaled by d_model^-0.5
//    and multiplied by the token embedding (T5 v1.0). The vocabulary is padded to a multiple of
//    128 x tp (as Megatron does); the padding ids get the lowest logit, so they are never
//    predicted.
// Logits come back split along the vocabulary (this tp rank's columns), the input of
// vocab_parallel_cross_entropy.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "models/lens/t5_layers.h"

namespace trafficfm::models {

struct LensConfig {
  std::int64_t vocab = 65642;  // datasets/encoders/lens_vocabulary.h
  std::int64_t d_model = 768, d_kv = 64, d_ff = 2048, heads = 12;
  std::int64_t encoder_layers = 12, decoder_layers = 12;
  std::int64_t buckets = 32, max_distance = 128;
  bool segment_embedding = true, packet_embedding = true;
  std::int64_t segments = 3, max_packets = 16;
  bool tie_embeddings = false;
  double dropout = 0.0;  // models/lens/t5_dropout.h; not part of the architecture
  std::int64_t padded_vocab(int tp) const { return (vocab + 128 * tp - 1) / (128 * tp) * (128 * tp); }
};

// Forward FLOPs (2 per multiply-add) of one sample at these padded lengths: projections,
// attention scores and values, FFN, and (lm_head) the LM head over the real vocabulary.
double lens_forward_flops(const LensConfig& config, std::int64_t input_length, std::int64_t target_length,
                          bool lm_head);

struct LensInputs {
  torch::Tensor tokens, segment, packet;  // [batch, length] int64; segment/packet may be undefined
  torch::Tensor padding;                  // [batch, length] bool, true = <pad>
};

struct T5Block : torch::nn::Module {
  T5Block(const LensConfig& c, bool decoder, bool has_bias, distributed::Communicator& tp,
          T5Dropout* dropout);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& self_bias, const torch::Tensor& memory,
                        const torch::Tensor& cross_mask);
  std::shared_ptr<T5Attention> self_attention, cross_attention;
  std::shared_ptr<T5LayerNorm> self_norm, cross_norm, ffn_norm;
  std::shared_ptr<GatedGeluFfn> ffn;
  std::shared_ptr<RelativePositionBias> relative_bias;  // first block of a stack only
  T5Dropout* dropout;                                   // on each sublayer's output
};

struct T5Stack : torch::nn::Module {
  T5Stack(const LensConfig& c, bool decoder, distributed::Communicator& tp, T5Dropout* dropout);
  // x: embedded inputs; memory and memory_padding: the encoder's output (decoder only).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& padding, const torch::Tensor& memory,
                        const torch::Tensor& memory_padding);
  std::vector<std::shared_ptr<T5Block>> blocks;
  std::shared_ptr<T5LayerNorm> final_layer_norm;
  bool decoder;
  T5Dropout* dropout;  // on the embedded input and the final output
};

struct LensModel : torch::nn::Module {
  LensModel(const LensConfig& config, distributed::Communicator& tp);
  torch::Tensor encode(const LensInputs& in);
  // Vocabulary-split logits [batch, target length, padded vocab / tp] of the decoder fed
  // `decoder_tokens` (the targets shifted right behind <pad>, T5's decoder start).
  torch::Tensor forward(const LensInputs& in, const torch::Tensor& decoder_tokens);
  // The decoder half of forward, given the encoder's output `memory` (and its padding).
  torch::Tensor decode(const torch::Tensor& memory, const torch::Tensor& memory_padding,
                       const torch::Tensor& decoder_tokens);
  // The LM head on the decoder's final states: vocabulary-split logits, padding ids lowest.
  torch::Tensor project(const torch::Tensor& decoder_states);
  double forward_flops(std::int64_t input_length, std::int64_t target_length) const {
    return lens_forward_flops(config, input_length, target_length, true);
  }
  LensConfig config;
  // The dropout every layer shares; a task calls dropout->start(sample keys) before each
  // training forward (models/lens/t5_dropout.h).
  std::shared_ptr<T5Dropout> dropout;
  std::shared_ptr<distributed::VocabParallelEmbedding> shared;
  torch::nn::Embedding segment_embed{nullptr}, packet_embed{nullptr};
  std::shared_ptr<T5Stack> encoder, decoder;
  std::shared_ptr<distributed::ColumnParallelLinear> lm_head;  // untied only
  distributed::Communicator& tp;
};

}  // namespace trafficfm::models
