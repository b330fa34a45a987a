#include "models/lens/span_corruption.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/rng.h"
#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

namespace {

struct Counts {
  std::int64_t noise = 0, spans = 0;
};

Counts noise_counts(std::int64_t length, const SpanCorruptionOptions& options) {
  Counts c;
  c.noise = static_cast<std::int64_t>(std::llround(static_cast<double>(length) * options.noise_density));
  c.noise = std::min(std::max<std::int64_t>(c.noise, 1), length - 1);
  c.spans = std::max<std::int64_t>(1, std::llround(static_cast<double>(c.noise) / options.mean_span_length));
  return c;
}

// `items` cut into `segments` non-empty runs at uniformly random cut points (T5's
// _random_segmentation: a shuffled indicator of segments − 1 cuts among items − 1 gaps).
std::vector<std::int64_t> random_segmentation(std::int64_t items, std::int64_t segments, core::Rng& rng) {
  std::vector<char> cut(static_cast<std::size_t>(items - 1), 0);
  for (std::int64_t i = 0; i < segments - 1; ++i) cut[static_cast<std::size_t>(i)] = 1;
  for (std::int64_t i = items - 2; i > 0; --i) std::swap(cut[i], cut[rng.integer(0, i)]);  // Fisher-Yates
  std::vector<std::int64_t> lengths(1, 1);
  for (char c : cut) {
    if (c) lengths.push_back(0);
    ++lengths.back();
  }
  return lengths;
}

bool is_special(std::int32_t id) { return id < vocab::kFirstBigram || id >= vocab::kFirstSentinel; }

}  // namespace

std::vector<bool> random_spans_noise_mask(std::int64_t length, const SpanCorruptionOptions& options,
                                          std::uint64_t seed) {
  std::vector<bool> mask(static_cast<std::size_t>(std::max<std::int64_t>(length, 0)), false);
  if (length < 2) return mask;  // nothing to hide while keeping a token
  const Counts c = noise_counts(length, options);
  const std::int64_t spans = std::min(c.spans, std::min(c.noise, length - c.noise));
  core::Rng rng(seed, 0x5ba45ULL);
  const auto noise = random_segmentation(c.noise, spans, rng);
  const auto kept = random_segmentation(length - c.noise, spans, rng);
  std::size_t at = 0;
  for (std::int64_t s = 0; s < spans; ++s) {
    at += static_cast<std::size_t>(kept[s]);
    for (std::int64_t i = 0; i < noise[s]; ++i) mask[at++] = true;
  }
  return mask;
}

CorruptedSpans corrupt_spans(const std::int32_t* tokens, std::size_t length,
                             const SpanCorruptionOptions& options, std::uint64_t seed) {
  std::size_t used = length;
  while (used > 0 && tokens[used - 1] == vocab::kPad) --used;
  std::vector<std::size_t> maskable;
  for (std::size_t i = 0; i < used; ++i) {
    if (!is_special(tokens[i])) maskable.push_back(i);
  }
  const auto noise = random_spans_noise_mask(static_cast<std::int64_t>(maskable.size()), options, seed);
  std::vector<bool> masked(used, false);
  for (std::size_t j = 0; j < maskable.size(); ++j) masked[maskable[j]] = noise[j];
  CorruptedSpans out;
  for (std::size_t i = 0; i < used; ++i) {
    if (!masked[i]) {
      out.input.push_back(tokens[i]);
      out.source.push_back(static_cast<std::int32_t>(i));
      continue;
    }
    if (i == 0 || !masked[i - 1]) {  // a span starts
      if (out.spans == vocab::kSentinels) {
        throw std::invalid_argument("span corruption: more than " + std::to_string(vocab::kSentinels) +
                                    " spans (a sample of " + std::to_string(used) + " tokens)");
      }
      const std::int32_t sentinel = vocab::sentinel(static_cast<int>(out.spans++));
      out.input.push_back(sentinel);
      out.source.push_back(static_cast<std::int32_t>(i));
      out.target.push_back(sentinel);
    }
    out.target.push_back(tokens[i]);
  }
  out.target.push_back(vocab::kEos);
  return out;
}

std::int64_t max_span_target_length(std::int64_t max_tokens, std::int64_t max_special,
                                    const SpanCorruptionOptions& options) {
  // Noise and span counts grow with the maskable length; each special token can split one span.
  const Counts c = noise_counts(std::max<std::int64_t>(max_tokens, 2), options);
  return c.noise + c.spans + max_special + 1;
}

}  // namespace trafficfm::models
