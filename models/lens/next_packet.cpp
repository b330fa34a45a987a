#include "models/lens/next_packet.h"

#include <algorithm>
#include <stdexcept>

#include "datasets/encoders/lens_vocabulary.h"
#include "models/lens/packet_rearrange.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

namespace {
constexpr std::int8_t kHeaderSegment = 1;

std::vector<std::int32_t> header_of(const LensSequence& s, std::pair<std::size_t, std::size_t> block) {
  std::vector<std::int32_t> out;
  for (std::size_t i = block.first; i < block.second; ++i) {
    if (s.segment[i] == kHeaderSegment) out.push_back(s.tokens[i]);
  }
  return out;
}
}  // namespace

NextPacketExamples next_packet_examples(const datasets::Batch& batch, const torch::Device& device) {
  const std::vector<LensSequence> sequences = lens_sequences(batch);
  const std::size_t rows = batch.rows;
  NextPacketExamples out;
  std::vector<std::vector<std::int8_t>> segment(rows), packet(rows);
  std::vector<std::vector<std::int32_t>> targets(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const LensSequence& s = sequences[r];
    const std::size_t width = s.tokens.size();
    const auto blocks = packet_blocks(s);
    const bool usable = blocks.size() >= 2 && !batch.filler;
    std::vector<std::int32_t> context;
    std::vector<std::int8_t> seg, pkt;
    const std::size_t end = usable ? blocks.back().first
                                   : std::min<std::size_t>(width, blocks.empty() ? 1 : blocks.back().second);
    for (std::size_t i = 0; i < end && s.tokens[i] != vocab::kEos && s.tokens[i] != vocab::kPad; ++i) {
      context.push_back(s.tokens[i]);
      seg.push_back(s.segment[i]);
      pkt.push_back(s.packet[i]);
    }
    context.push_back(vocab::kEos);
    seg.push_back(0);
    pkt.push_back(pkt.empty() ? 0 : pkt.back());
    out.real_header.push_back(usable ? header_of(s, blocks.back()) : std::vector<std::int32_t>{});
    out.previous_header.push_back(usable ? header_of(s, blocks[blocks.size() - 2])
                                         : std::vector<std::int32_t>{});
    targets[r] = out.real_header.back();
    targets[r].push_back(vocab::kEos);
    out.context.push_back(context);
    segment[r] = seg;
    packet[r] = pkt;
    out.usable.push_back(usable);
  }
  std::size_t in_length = 1, out_length = 1;
  for (std::size_t r = 0; r < rows; ++r) {
    in_length = std::max(in_length, out.context[r].size());
    out_length = std::max(out_length, targets[r].size());
  }
  const auto n = static_cast<std::int64_t>(rows);
  auto in_tokens = torch::full({n, static_cast<std::int64_t>(in_length)}, vocab::kPad, torch::kLong);
  auto in_segment = torch::zeros_like(in_tokens), in_packet = torch::zeros_like(in_tokens);
  auto target = torch::full({n, static_cast<std::int64_t>(out_length)}, vocab::kPad, torch::kLong);
  auto decoder_input = target.clone();
  auto mask = torch::zeros(target.sizes());
  auto ti = in_tokens.accessor<std::int64_t, 2>(), si = in_segment.accessor<std::int64_t, 2>();
  auto pi = in_packet.accessor<std::int64_t, 2>(), to = target.accessor<std::int64_t, 2>();
  auto di = decoder_input.accessor<std::int64_t, 2>();
  auto mi = mask.accessor<float, 2>();
  for (std::int64_t r = 0; r < n; ++r) {
    const auto& c = out.context[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < c.size(); ++i) {
      const auto at = static_cast<std::int64_t>(i);
      ti[r][at] = c[i];
      si[r][at] = segment[static_cast<std::size_t>(r)][i];
      pi[r][at] = packet[static_cast<std::size_t>(r)][i];
    }
    const auto& t = targets[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < t.size(); ++i) {
      const auto at = static_cast<std::int64_t>(i);
      to[r][at] = t[i];
      if (i + 1 < t.size()) di[r][at + 1] = t[i];
      if (out.usable[static_cast<std::size_t>(r)]) mi[r][at] = 1.0f;
    }
  }
  out.target_tokens = mask.sum().item<double>();
  out.input.tokens = in_tokens.to(device);
  out.input.segment = in_segment.to(device);
  out.input.packet = in_packet.to(device);
  out.input.padding = (in_tokens == vocab::kPad).to(device);
  out.target = target.to(device);
  out.decoder_input = decoder_input.to(device);
  out.target_mask = mask.to(device);
  return out;
}

}  // namespace trafficfm::models
