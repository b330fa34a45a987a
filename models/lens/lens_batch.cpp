#include "models/lens/lens_batch.h"

#include <algorithm>
#include <stdexcept>

#include "datasets/encoders/lens_vocabulary.h"
#include "models/common/sample_random.h"
#include "models/lens/packet_rearrange.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

namespace {
constexpr std::uint64_t kChoiceStream = 11, kPopStream = 12, kHtpStream = 13, kSpanStream = 14;
enum class Objective { kNone, kPop, kHtp };

std::uint64_t mix(std::uint64_t key, std::uint64_t stream) {
  std::uint64_t z = key + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::size_t packet_count(const LensSequence& s) { return packet_blocks(s).size(); }

struct Example {
  std::vector<std::int32_t> input, target;
  std::vector<std::int8_t> segment, packet;
  std::array<float, 3> pop_label{0, 0, 0}, pop_mask{0, 0, 0};
  float htp_label = 0, htp_mask = 0;
};
}  // namespace

std::vector<std::string> lens_columns() { return {"tokens", "segment", "packet_index", "length", "label"}; }

LensExamples lens_examples(const datasets::Batch& batch, const LensObjective& objective, std::uint64_t seed,
                           const torch::Device& device) {
  const std::size_t rows = batch.rows;
  const std::vector<LensSequence> source = lens_sequences(batch);
  const auto* lengths = batch.column<std::int32_t>("length");
  const auto keys = sample_keys(seed, batch.epoch, batch.sample_index);
  const auto draw_tensor = per_sample_uniform(keys, 3, kChoiceStream);  // objective, HTP sign, HTP cut
  const auto draws = draw_tensor.accessor<float, 2>();
  std::vector<Objective> chosen(rows, Objective::kNone);
  std::vector<std::size_t> htp_rows;
  LensExamples out;
  for (std::size_t r = 0; r < rows; ++r) {
    out.source_tokens += lengths[r];
    if (packet_count(source[r]) < 2) continue;
    const float u = draws[static_cast<std::int64_t>(r)][0];
    if (objective.pop && u < objective.pop_share) {
      chosen[r] = Objective::kPop;
    } else if (objective.htp) {
      // Among the samples not used for POP, a share htp_share (u rescaled to that remainder).
      const double rest = objective.pop ? (u - objective.pop_share) / (1.0 - objective.pop_share) : u;
      if (rest < objective.htp_share) {
        chosen[r] = Objective::kHtp;
        htp_rows.push_back(r);
      }
    }
  }
  std::vector<Example> examples(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    Example& e = examples[r];
    LensSequence sample = source[r];
    if (chosen[r] == Objective::kPop) {
      const auto pop = shuffle_first_packets(sample, mix(keys[r], kPopStream));
      sample = pop.sample;
      const std::size_t n = std::min<std::size_t>(3, packet_count(sample));
      for (std::size_t i = 0; i < n; ++i) {
        e.pop_label[i] = pop.in_place[i];
        e.pop_mask[i] = 1;
      }
    } else if (chosen[r] == Objective::kHtp) {
      const auto at = std::find(htp_rows.begin(), htp_rows.end(), r) - htp_rows.begin();
      const std::size_t other = htp_rows[(at + 1) % htp_rows.size()];
      const bool positive = other == r || draws[static_cast<std::int64_t>(r)][1] < 0.5f;
      const LensSequence& tail = positive ? source[r] : source[other];
      const std::size_t most = std::min(packet_count(sample), packet_count(tail)) - 1;
      const float v = draws[static_cast<std::int64_t>(r)][2];
      const std::size_t cut = 1 + std::min(most - 1, static_cast<std::size_t>(v * static_cast<float>(most)));
      sample = splice_subflows(sample, tail, cut);
      e.htp_label = positive ? 1.0f : 0.0f;
      e.htp_mask = 1;
    }
    std::size_t used = sample.tokens.size();
    while (used > 0 && sample.tokens[used - 1] == vocab::kPad) --used;
    if (objective.msp) {
      const auto spans =
          corrupt_spans(sample.tokens.data(), used, objective.spans, mix(keys[r], kSpanStream));
      e.input = spans.input;
      e.target = spans.target;
      for (const std::int32_t from : spans.source) {
        e.segment.push_back(sample.segment[static_cast<std::size_t>(from)]);
        e.packet.push_back(sample.packet[static_cast<std::size_t>(from)]);
      }
    } else {
      e.input.assign(sample.tokens.begin(), sample.tokens.begin() + static_cast<std::ptrdiff_t>(used));
      e.segment.assign(sample.segment.begin(), sample.segment.begin() + static_cast<std::ptrdiff_t>(used));
      e.packet.assign(sample.packet.begin(), sample.packet.begin() + static_cast<std::ptrdiff_t>(used));
      e.target = {vocab::kEos};  // the decoder still runs (HTP may read its states later)
    }
  }
  std::size_t in_length = 1, out_length = 1;
  for (const auto& e : examples) {
    in_length = std::max(in_length, e.input.size());
    out_length = std::max(out_length, e.target.size());
  }
  const auto n = static_cast<std::int64_t>(rows);
  const auto li = static_cast<std::int64_t>(in_length), lo = static_cast<std::int64_t>(out_length);
  auto in_tokens = torch::full({n, li}, vocab::kPad, torch::kLong);
  auto in_segment = torch::zeros({n, li}, torch::kLong), in_packet = torch::zeros({n, li}, torch::kLong);
  auto target = torch::full({n, lo}, vocab::kPad, torch::kLong);
  auto decoder_input = torch::full({n, lo}, vocab::kPad, torch::kLong);
  auto pop_position = torch::zeros({n, 3}, torch::kLong);
  auto pop_label = torch::zeros({n, 3}), pop_mask = torch::zeros({n, 3});
  auto eos_position = torch::zeros({n}, torch::kLong);
  auto htp_label = torch::zeros({n}), htp_mask = torch::zeros({n});
  auto ti = in_tokens.accessor<std::int64_t, 2>(), si = in_segment.accessor<std::int64_t, 2>();
  auto pi = in_packet.accessor<std::int64_t, 2>(), to = target.accessor<std::int64_t, 2>();
  auto di = decoder_input.accessor<std::int64_t, 2>(), pp = pop_position.accessor<std::int64_t, 2>();
  auto pl = pop_label.accessor<float, 2>(), pm = pop_mask.accessor<float, 2>();
  for (std::int64_t r = 0; r < n; ++r) {
    const Example& e = examples[static_cast<std::size_t>(r)];
    int pkt = 0;
    for (std::size_t i = 0; i < e.input.size(); ++i) {
      const auto at = static_cast<std::int64_t>(i);
      ti[r][at] = e.input[i];
      si[r][at] = e.segment[i];
      pi[r][at] = e.packet[i];
      if (e.input[i] == vocab::kPacket && pkt < 3) pp[r][pkt++] = at;
      if (e.input[i] == vocab::kEos) eos_position[r] = at;
    }
    for (std::size_t i = 0; i < e.target.size(); ++i) {
      to[r][static_cast<std::int64_t>(i)] = e.target[i];
      if (i + 1 < e.target.size()) di[r][static_cast<std::int64_t>(i + 1)] = e.target[i];
    }
    for (int i = 0; i < 3; ++i) {
      pl[r][i] = e.pop_label[i];
      pm[r][i] = e.pop_mask[i];
    }
    htp_label[r] = e.htp_label;
    htp_mask[r] = e.htp_mask;
  }
  out.input.tokens = in_tokens.to(device);
  out.input.segment = in_segment.to(device);
  out.input.packet = in_packet.to(device);
  out.input.padding = (in_tokens == vocab::kPad).to(device);
  out.target = target.to(device);
  out.decoder_input = decoder_input.to(device);
  auto target_mask = (target != vocab::kPad).to(torch::kFloat);
  if (!objective.msp) target_mask.zero_();
  if (batch.filler) target_mask.zero_(), pop_mask.zero_(), htp_mask.zero_();
  out.target_tokens = target_mask.sum().item<double>();
  out.pop_examples = pop_mask.sum().item<double>();
  out.htp_examples = htp_mask.sum().item<double>();
  out.target_mask = target_mask.to(device);
  out.pop_position = pop_position.to(device);
  out.pop_label = pop_label.to(device);
  out.pop_mask = pop_mask.to(device);
  out.eos_position = eos_position.to(device);
  out.htp_label = htp_label.to(device);
  out.htp_mask = htp_mask.to(device);
  if (batch.filler) out.source_tokens = 0;
  return out;
}

}  // namespace trafficfm::models
