// Which tokens may come next in a generated packet header (`trafficfm generate --constrain
// header`, the default). The bigram vocabulary's header tokens overlap (b0b1, b1b2, ...), and a
// header states its own length, so a decoder left free can spell no header at all: a bigram
// that does not continue the previous one, or </s> before the TCP flags. Constrained decoding
// (as grammar-constrained sampling does for JSON) keeps the model's choice among the tokens
// that continue a well-formed header:
//  - every token after the first starts with the byte the previous one ended with;
//  - the first byte is an IPv4 version with IHL >= 5 (0x45-0x4f) or an IPv6 version (0x6_),
//    and a TCP data offset is >= 5 (prep keeps no other packets: datasets/capture/packet_view);
//  - </s> comes exactly when the bytes so far are the header they describe: IPv4 IHL, IPv6 and
//    its extension headers, then TCP's data offset, UDP/UDP-Lite/ICMP's 8 bytes, nothing for
//    another protocol (the lengths prep gives a header).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace trafficfm::models {

// What the bytes of a header so far say about it: its length once they hold enough to say,
// where its TCP data offset byte is (once known), and whether they describe no header.
struct HeaderShape {
  std::optional<std::size_t> length;
  std::optional<std::size_t> tcp_offset_at;
  bool invalid = false;
};
HeaderShape header_shape(const std::vector<std::uint8_t>& bytes);

class HeaderGrammar {
 public:
  HeaderGrammar(std::size_t rows, std::int64_t vocab);
  // [rows, vocab] bool: the tokens each row may take next (a finished row: <pad> alone).
  torch::Tensor allowed() const;
  // The tokens the rows took.
  void advance(const torch::Tensor& tokens);

 private:
  std::int64_t vocab_;
  std::vector<std::vector<std::uint8_t>> bytes_;
  std::vector<bool> done_;
};

}  // namespace trafficfm::models
