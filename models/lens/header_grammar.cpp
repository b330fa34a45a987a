#include "models/lens/header_grammar.h"

#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

namespace {
// The transport header after the IP header at `at` (the rules of packet_view.cpp).
void add_transport(const std::vector<std::uint8_t>& b, std::size_t at, int protocol, HeaderShape& shape) {
  switch (protocol) {
    case 6:
      shape.tcp_offset_at = at + 12;
      if (b.size() <= at + 12) return;
      if ((b[at + 12] >> 4) < 5) {
        shape.invalid = true;
        return;
      }
      shape.length = at + (b[at + 12] >> 4) * 4u;
      return;
    case 17:
    case 136:
    case 1:
    case 58:
      shape.length = at + 8;
      return;
    default:
      shape.length = at;
  }
}
}  // namespace

HeaderShape header_shape(const std::vector<std::uint8_t>& b) {
  HeaderShape shape;
  if (b.empty()) return shape;
  const int version = b[0] >> 4;
  if (version == 4) {
    const std::size_t ihl = (b[0] & 15) * 4u;
    if (ihl < 20) {
      shape.invalid = true;
    } else if (b.size() >= 10) {
      add_transport(b, ihl, b[9], shape);
    }
    return shape;
  }
  if (version != 6) {
    shape.invalid = true;
    return shape;
  }
  if (b.size() < 7) return shape;
  int next = b[6];
  std::size_t header = 40;
  for (int hops = 0; hops < 16; ++hops) {
    if (next == 0 || next == 43 || next == 60 || next == 135 || next == 51) {
      if (b.size() < header + 2) return shape;
      const int following = b[header];
      header += next == 51 ? (b[header + 1] + 2u) * 4u : (b[header + 1] + 1u) * 8u;
      next = following;
    } else if (next == 44) {
      if (b.size() < header + 1) return shape;
      next = b[header];
      header += 8;
    } else {
      break;
    }
  }
  add_transport(b, header, next, shape);
  return shape;
}

HeaderGrammar::HeaderGrammar(std::size_t rows, std::int64_t vocab)
    : vocab_(vocab), bytes_(rows), done_(rows) {}

torch::Tensor HeaderGrammar::allowed() const {
  const auto rows = static_cast<std::int64_t>(bytes_.size());
  auto out = torch::zeros({rows, vocab_}, torch::kBool);
  for (std::int64_t r = 0; r < rows; ++r) {
    auto row = out[r];
    const auto& b = bytes_[static_cast<std::size_t>(r)];
    if (done_[static_cast<std::size_t>(r)]) {
      row[vocab::kPad] = true;
      continue;
    }
    if (b.empty()) {
      // IPv4 with IHL >= 5, or IPv6, as the first byte.
      row.narrow(0, vocab::kFirstBigram + (0x45 << 8), 11 * 256).fill_(true);
      row.narrow(0, vocab::kFirstBigram + (0x60 << 8), 16 * 256).fill_(true);
      continue;
    }
    const HeaderShape shape = header_shape(b);
    if (shape.length && b.size() >= *shape.length) {
      row[vocab::kEos] = true;  // the header is complete
      continue;
    }
    const std::int64_t first = vocab::kFirstBigram + (static_cast<std::int64_t>(b.back()) << 8);
    if (shape.tcp_offset_at == b.size()) {
      row.narrow(0, first + 0x50, 256 - 0x50).fill_(true);  // a data offset >= 5 words
    } else {
      row.narrow(0, first, 256).fill_(true);
    }
    if (shape.invalid) row[vocab::kEos] = true;
  }
  return out;
}

void HeaderGrammar::advance(const torch::Tensor& tokens) {
  const auto t = tokens.to(torch::kCPU, torch::kLong).contiguous();
  const auto* ids = t.data_ptr<std::int64_t>();
  for (std::size_t r = 0; r < bytes_.size(); ++r) {
    if (done_[r]) continue;
    const std::int64_t id = ids[r];
    if (id >= vocab::kFirstBigram && id < vocab::kFirstBigram + vocab::kBigrams) {
      const auto pair = id - vocab::kFirstBigram;
      if (bytes_[r].empty()) bytes_[r].push_back(static_cast<std::uint8_t>(pair >> 8));
      bytes_[r].push_back(static_cast<std::uint8_t>(pair & 0xff));
    } else {
      done_[r] = true;  // </s> (or anything else) ends the header
    }
  }
}

}  // namespace trafficfm::models
