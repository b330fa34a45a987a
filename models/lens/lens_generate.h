// Incremental decoding for Lens: each step feeds the decoder one new token and reuses every
// earlier position's keys and values (KvCache), so generating n tokens costs O(n) decoder
// positions instead of O(n²); the encoder's keys and values for cross-attention are computed
// once. The logits equal a full recomputation's (LensGenerate.* tests).
// Sampling is greedy, or top-k with a temperature from a generator seeded by `seed`, the same on
// every tp rank (each rank sees the whole vocabulary's logits, gathered).
#pragma once
#include <cstdint>
#include <vector>

#include "models/lens/lens_model.h"

namespace trafficfm::models {

struct DecoderCache {
  std::vector<KvCache> self, cross;  // per decoder block
  std::int64_t length = 0;           // positions decoded so far
};

// Logits [batch, 1, padded vocab / tp] of the next position, given the decoder's previous
// positions in `cache` and the new `tokens` [batch, 1].
torch::Tensor decode_step(LensModel& model, const torch::Tensor& memory, const torch::Tensor& memory_padding,
                          const torch::Tensor& tokens, DecoderCache& cache);

struct GenerateOptions {
  std::int64_t max_tokens = 64;  // generated tokens at most (</s> ends a row earlier)
  std::int64_t top_k = 0;        // 0: greedy
  double temperature = 1.0;
  std::uint64_t seed = 0;
  // Only tokens that continue a well-formed packet header (models/lens/header_grammar.h);
  // for the bigram vocabulary.
  bool constrain_header = false;
};

// [batch, length <= max_tokens] generated ids; after a row's </s>, <pad>.
torch::Tensor generate(LensModel& model, const LensInputs& in, const GenerateOptions& options);

}  // namespace trafficfm::models
