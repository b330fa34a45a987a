// The data side of Lens's two packet-level objectives, on one sample of the `lens` corpus
// (tokens, segment and packet_index columns; packets are consecutive blocks that start with
// <pkt>, then </s>, then padding):
//  - POP (packet order prediction): the first min(3, packets) packets are reordered by a
//    uniformly drawn permutation other than the identity. The labels say, for each of the
//    first 3 positions, whether it still holds its original packet.
//  - HTP (header-tail pairing): the first `cut` packets of one flow followed by the packets from
//    `cut` on of another (or of the same flow: a positive pair), then </s>.
// Both renumber packet_index by position, so the packet embedding cannot give the answer away.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "datasets/loader/loader.h"

namespace trafficfm::models {

struct LensSequence {
  std::vector<std::int32_t> tokens;  // max_tokens ids, padded with <pad>
  std::vector<std::int8_t> segment;  // 0 special, 1 header, 2 payload
  std::vector<std::int8_t> packet;   // packet of each token
};

// The samples of a lens-corpus batch (its tokens, segment and packet_index columns) as
// sequences; throws std::invalid_argument when the batch is not of a lens corpus.
std::vector<LensSequence> lens_sequences(const datasets::Batch& batch);

// Token ranges [begin, end) of the packets, in order (each starts at a <pkt>).
std::vector<std::pair<std::size_t, std::size_t>> packet_blocks(const LensSequence& sample);

struct PacketOrderExample {
  LensSequence sample;
  std::array<float, 3> in_place{1.0f, 1.0f, 1.0f};  // position i holds its original packet
  bool shuffled = false;                            // false: fewer than 2 packets, unchanged
};

PacketOrderExample shuffle_first_packets(const LensSequence& sample, std::uint64_t seed);

// The first `cut` packets of `head` then the packets of `tail` from `cut` on, then </s>,
// padded to head's length. Needs 0 < cut < packets of each. Fits whenever both samples came
// from the same encoder settings (every packet block is at most the per-packet budget).
LensSequence splice_subflows(const LensSequence& head, const LensSequence& tail, std::size_t cut);

}  // namespace trafficfm::models
