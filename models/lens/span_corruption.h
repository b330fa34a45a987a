// Lens's masked span prediction (MSP): T5's span corruption on the encoder input.
//  - The noise mask is T5's random_spans_noise_mask over the maskable tokens: round(n · density)
//    noise tokens (at least 1, at most n − 1) in round(noise / mean_span) spans (at least 1).
//    Noise and non-noise runs alternate, starting with non-noise. Both the noise tokens and the
//    non-noise tokens are cut into that many runs at uniformly random points, so every run holds
//    at least one token. The counts are fixed by the length; only the segmentation is random.
//  - Special tokens (<pkt>, <head>, <tsk>, </s>, <pad>) are never masked. The mask is drawn over
//    the other tokens in order. A noise run that a special token interrupts becomes two spans,
//    and the special token stays in the input between their sentinels.
//  - Input: each span replaced by one sentinel <extra_id_k>, k = 0, 1, ... in order. Target: each
//    sentinel followed by the tokens it replaced, then </s>. Putting the target's tokens back in
//    place of the sentinels gives the original sequence, token for token.
// The draw is a pure function of `seed` (a per-sample key, models/common/sample_random.h), so a
// sample gets the same corruption on every rank and after a resume.
#pragma once
#include <cstdint>
#include <vector>

namespace trafficfm::models {

struct SpanCorruptionOptions {
  double noise_density = 0.15;
  double mean_span_length = 3.0;
};

// T5's noise mask over `length` tokens: true = noise.
std::vector<bool> random_spans_noise_mask(std::int64_t length, const SpanCorruptionOptions& options,
                                          std::uint64_t seed);

struct CorruptedSpans {
  std::vector<std::int32_t> input;   // the encoder input, unpadded (ends with </s> when the source did)
  std::vector<std::int32_t> target;  // sentinel, its tokens, sentinel, ..., </s>
  std::vector<std::int32_t>
      source;  // per input token, its position in the sample (a sentinel: the first it hides)
  std::int64_t spans = 0;
};

// `tokens`: one sample of the lens corpus (vocabulary datasets/encoders/lens_vocabulary.h); the
// padding after its tokens is ignored. Throws std::invalid_argument when the spans need more
// sentinels than the vocabulary has (100).
CorruptedSpans corrupt_spans(const std::int32_t* tokens, std::size_t length,
                             const SpanCorruptionOptions& options, std::uint64_t seed);

// The longest target corrupt_spans can produce for inputs of at most `max_tokens` tokens with
// at most `max_special` special tokens among them: the decoder length to configure so that no
// target is ever truncated.
std::int64_t max_span_target_length(std::int64_t max_tokens, std::int64_t max_special,
                                    const SpanCorruptionOptions& options);

}  // namespace trafficfm::models
