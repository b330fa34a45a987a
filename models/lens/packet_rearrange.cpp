#include "models/lens/packet_rearrange.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "core/rng.h"
#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

std::vector<LensSequence> lens_sequences(const datasets::Batch& batch) {
  std::size_t width = 0;
  for (const auto& spec : batch.specs) {
    if (spec.name == "tokens") width = spec.values_per_sample();
  }
  if (width == 0) throw std::invalid_argument("lens: the batch has no 'tokens' column (not a lens corpus?)");
  const auto* tokens = batch.column<std::int32_t>("tokens");
  const auto* segments = batch.column<std::int8_t>("segment");
  const auto* packets = batch.column<std::int8_t>("packet_index");
  std::vector<LensSequence> out(batch.rows);
  for (std::size_t r = 0; r < batch.rows; ++r) {
    out[r].tokens.assign(tokens + r * width, tokens + (r + 1) * width);
    out[r].segment.assign(segments + r * width, segments + (r + 1) * width);
    out[r].packet.assign(packets + r * width, packets + (r + 1) * width);
  }
  return out;
}

namespace vocab = datasets::lens_vocab;

namespace {

constexpr std::int8_t kSegmentSpecial = 0;

// A sequence of the same length holding the given packet blocks of `sources`, then </s>.
LensSequence assemble(
    std::size_t length,
    const std::vector<std::pair<const LensSequence*, std::pair<std::size_t, std::size_t>>>& parts) {
  LensSequence out;
  out.tokens.assign(length, vocab::kPad);
  out.segment.assign(length, kSegmentSpecial);
  out.packet.assign(length, 0);
  std::size_t at = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const auto& [source, range] = parts[p];
    if (at + (range.second - range.first) + 1 > length) {
      throw std::invalid_argument("lens: rearranged packets need more than " + std::to_string(length) +
                                  " tokens");
    }
    for (std::size_t i = range.first; i < range.second; ++i, ++at) {
      out.tokens[at] = source->tokens[i];
      out.segment[at] = source->segment[i];
      out.packet[at] = static_cast<std::int8_t>(p);
    }
  }
  out.tokens[at] = vocab::kEos;
  out.packet[at] = static_cast<std::int8_t>(parts.empty() ? 0 : parts.size() - 1);
  return out;
}

}  // namespace

std::vector<std::pair<std::size_t, std::size_t>> packet_blocks(const LensSequence& sample) {
  std::vector<std::pair<std::size_t, std::size_t>> blocks;
  for (std::size_t i = 0; i < sample.tokens.size(); ++i) {
    const std::int32_t id = sample.tokens[i];
    if (id == vocab::kEos || id == vocab::kPad) {
      if (!blocks.empty()) blocks.back().second = i;
      break;
    }
    if (id == vocab::kPacket) {
      if (!blocks.empty()) blocks.back().second = i;
      blocks.push_back({i, sample.tokens.size()});
    }
  }
  return blocks;
}

PacketOrderExample shuffle_first_packets(const LensSequence& sample, std::uint64_t seed) {
  PacketOrderExample out;
  const auto blocks = packet_blocks(sample);
  const std::size_t n = std::min<std::size_t>(3, blocks.size());
  if (n < 2) {
    out.sample = sample;
    return out;
  }
  // The k-th permutation in lexicographic order, k uniform in [1, n!): never the identity.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const std::int64_t permutations = n == 2 ? 2 : 6;
  core::Rng rng(seed, 0x909ULL);
  const std::int64_t k = rng.integer(1, permutations - 1);
  for (std::int64_t i = 0; i < k; ++i) std::next_permutation(order.begin(), order.end());
  std::vector<std::pair<const LensSequence*, std::pair<std::size_t, std::size_t>>> parts;
  for (std::size_t i = 0; i < blocks.size(); ++i) parts.push_back({&sample, blocks[i < n ? order[i] : i]});
  out.sample = assemble(sample.tokens.size(), parts);
  for (std::size_t i = 0; i < n; ++i) out.in_place[i] = order[i] == i ? 1.0f : 0.0f;
  out.shuffled = true;
  return out;
}

LensSequence splice_subflows(const LensSequence& head, const LensSequence& tail, std::size_t cut) {
  const auto a = packet_blocks(head), b = packet_blocks(tail);
  if (cut == 0 || cut >= a.size() || cut >= b.size()) {
    throw std::invalid_argument("lens: cannot cut flows of " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " packets after packet " + std::to_string(cut));
  }
  std::vector<std::pair<const LensSequence*, std::pair<std::size_t, std::size_t>>> parts;
  for (std::size_t i = 0; i < cut; ++i) parts.push_back({&head, a[i]});
  for (std::size_t i = cut; i < b.size(); ++i) parts.push_back({&tail, b[i]});
  return assemble(head.tokens.size(), parts);
}

}  // namespace trafficfm::models
