// `lens`: the first K packets of a flow as one token sequence. Per packet: <pkt>, <head>, then
// overlapping byte bigrams (ET-BERT: bytes b0b1, b1b2, ...) over the IP + transport header,
// then over the payload; each packet gets an equal share of the sequence. The sequence ends
// with </s> and is padded with <pad>. Per token: a segment id (0 special, 1 header,
// 2 payload) and the packet index (0..K-1).
#include <algorithm>
#include <cstdio>

#include "datasets/encoders/encoder.h"
#include "datasets/encoders/lens_spm.h"
#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::datasets {

std::string lens_vocab::token_text(std::int32_t id) {
  static const char* const kSpecial[] = {"<pad>", "</s>", "<unk>", "<tsk>", "<head>", "<pkt>"};
  if (id >= 0 && id < kFirstBigram) return kSpecial[id];
  if (id >= kFirstBigram && id < kFirstSentinel) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", id - kFirstBigram);
    return buf;
  }
  if (id >= kFirstSentinel && id < kSize) return "<extra_id_" + std::to_string(id - kFirstSentinel) + ">";
  return "<unk>";
}

namespace {

constexpr std::int8_t kSegmentSpecial = 0;
constexpr std::int8_t kSegmentHeader = 1;
constexpr std::int8_t kSegmentPayload = 2;

class LensEncoder : public Encoder {
 public:
  explicit LensEncoder(const EncoderOptions& options)
      : anonymize_(options.anonymize), packets_(options.packets), max_tokens_(options.max_tokens) {
    if (packets_ < 1 || packets_ > 64) throw std::invalid_argument("lens: packets per sample must be 1..64");
    if (max_tokens_ < 4 * packets_ + 1)
      throw std::invalid_argument("lens: max tokens too small for the packets");
    if (!options.spm_model.empty()) spm_ = load_spm_tokenizer(options.spm_model);
  }
  std::string name() const override { return "lens"; }
  core::JsonObject settings() const override {
    return core::JsonObject()
        .set("packets", packets_)
        .set("max_tokens", max_tokens_)
        .set("anonymize", anonymize_)
        .set("relative_numbers", anonymize_)  // TCP seq/ack and IPv4 IDs (FlowAnonymizer)
        .set("tokenizer", spm_ ? "spm" : "bigram")
        .set("tokenizer_model", spm_ ? "tokenizer.model" : "")
        .set("vocab_size", spm_ ? spm_->vocab_size() : lens_vocab::kSize)
        .set("special_tokens", std::vector<std::string>{"<pad>", "</s>", "<unk>", "<tsk>", "<head>", "<pkt>"})
        .set("first_bigram_id", spm_ ? -1 : lens_vocab::kFirstBigram)
        .set("first_sentinel_id", spm_ ? 6 : lens_vocab::kFirstSentinel);
  }
  std::vector<ColumnSpec> schema() const override {
    const auto n = static_cast<std::uint64_t>(max_tokens_);
    return {{"tokens", DType::kInt32, {n}, "token ids (manifest: encoder.vocab_size)"},
            {"segment", DType::kInt8, {n}, "0 special, 1 header, 2 payload"},
            {"packet_index", DType::kInt8, {n}, "packet of each token, 0..K-1"},
            {"length", DType::kInt32, {}, "tokens before padding"},
            {"packets", DType::kInt32, {}, "packets in the sample (<= K)"}};
  }
  void adjust(FlowTableOptions& options) const override {
    options.keep_packets = std::max<std::size_t>(options.keep_packets, static_cast<std::size_t>(packets_));
    options.keep_bytes =
        std::max<std::size_t>(options.keep_bytes, static_cast<std::size_t>(max_tokens_) + 128);
  }
  bool encode(const Flow& flow, ColumnBuffer& out) override {
    std::vector<std::int32_t> tokens(max_tokens_, lens_vocab::kPad);
    std::vector<std::int8_t> segments(max_tokens_, kSegmentSpecial);
    std::vector<std::int8_t> packet_index(max_tokens_, 0);
    const int used_packets = std::min<int>(packets_, static_cast<int>(flow.packets.size()));
    const int budget = (max_tokens_ - 1) / packets_;  // tokens per packet, </s> reserved
    int at = 0;
    FlowAnonymizer anonymizer(flow.protocol);
    // The tokenizer reads hex text of the (anonymized) header and payload of every packet.
    const auto hex = spm_
                         ? lens_hex_segments(flow, used_packets, static_cast<std::size_t>(budget), anonymize_)
                         : std::vector<std::string>{};
    for (int i = 0; i < used_packets; ++i) {
      const FlowPacket& p = flow.packets[i];
      const int end = at + budget;
      auto push = [&](std::int32_t token, std::int8_t segment) {
        if (at >= end) return false;
        tokens[at] = token;
        segments[at] = segment;
        packet_index[at] = static_cast<std::int8_t>(i);
        ++at;
        return true;
      };
      push(lens_vocab::kPacket, kSegmentSpecial);
      push(lens_vocab::kHead, kSegmentSpecial);
      if (spm_) {
        for (int part = 0; part < 2; ++part) {
          for (int id : spm_->encode(hex[2 * i + part])) {
            if (!push(id, part == 0 ? kSegmentHeader : kSegmentPayload)) break;
          }
        }
        continue;
      }
      std::vector<std::uint8_t> bytes = p.bytes;
      if (anonymize_) anonymizer.apply(bytes.data(), bytes.size(), p);
      const std::size_t header = std::min<std::size_t>(p.header_length, bytes.size());
      for (std::size_t b = 0; b + 1 < header; ++b) {
        if (!push(lens_vocab::bigram(bytes[b], bytes[b + 1]), kSegmentHeader)) break;
      }
      for (std::size_t b = header; b + 1 < bytes.size(); ++b) {
        if (!push(lens_vocab::bigram(bytes[b], bytes[b + 1]), kSegmentPayload)) break;
      }
    }
    tokens[at] = lens_vocab::kEos;
    segments[at] = kSegmentSpecial;
    packet_index[at] = static_cast<std::int8_t>(std::max(0, used_packets - 1));
    const std::int32_t length = at + 1;
    out.put(0, tokens.data(), tokens.size());
    out.put(1, segments.data(), segments.size());
    out.put(2, packet_index.data(), packet_index.size());
    out.put(3, length);
    out.put(4, static_cast<std::int32_t>(used_packets));
    return true;
  }

 private:
  bool anonymize_;
  int packets_;
  int max_tokens_;
  std::unique_ptr<SubwordTokenizer> spm_;
};

}  // namespace

std::unique_ptr<Encoder> make_lens_encoder(const EncoderOptions& options) {
  return std::make_unique<LensEncoder>(options);
}

}  // namespace trafficfm::datasets
