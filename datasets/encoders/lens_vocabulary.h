// The `lens` token vocabulary: special tokens, then one id per byte bigram (ET-BERT's 65,536
// two-byte words), then T5's sentinels. Fixed, so every corpus and model agree on it.
#pragma once
#include <cstdint>
#include <string>

namespace trafficfm::datasets::lens_vocab {

constexpr std::int32_t kPad = 0;
constexpr std::int32_t kEos = 1;  // </s>
constexpr std::int32_t kUnk = 2;
constexpr std::int32_t kTask = 3;    // <tsk>
constexpr std::int32_t kHead = 4;    // <head>
constexpr std::int32_t kPacket = 5;  // <pkt>
constexpr std::int32_t kFirstBigram = 6;
constexpr std::int32_t kBigrams = 65536;
constexpr std::int32_t kFirstSentinel = kFirstBigram + kBigrams;  // <extra_id_0>
constexpr std::int32_t kSentinels = 100;
constexpr std::int32_t kSize = kFirstSentinel + kSentinels;  // 65,642

inline std::int32_t bigram(std::uint8_t first, std::uint8_t second) {
  return kFirstBigram + ((static_cast<std::int32_t>(first) << 8) | second);
}
inline std::int32_t sentinel(int k) { return kFirstSentinel + k; }
// "<pkt>", "4500", "<extra_id_3>": readable token text (inspect --sample).
std::string token_text(std::int32_t id);

}  // namespace trafficfm::datasets::lens_vocab
