#include "datasets/encoders/lens_spm.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "datasets/capture/capture_reader.h"
#include "datasets/encoders/encoder.h"
#include "datasets/flow/flow_table.h"

namespace trafficfm::datasets {
namespace {

std::string hex(const std::uint8_t* data, std::size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

std::vector<std::string> lens_hex_segments(const Flow& flow, int packets, std::size_t max_segment_bytes,
                                           bool anonymize) {
  std::vector<std::string> out;
  FlowAnonymizer anonymizer(flow.protocol);
  for (int i = 0; i < packets && i < static_cast<int>(flow.packets.size()); ++i) {
    const FlowPacket& p = flow.packets[i];
    std::vector<std::uint8_t> bytes = p.bytes;
    if (anonymize) anonymizer.apply(bytes.data(), bytes.size(), p);
    const std::size_t header = std::min<std::size_t>(p.header_length, bytes.size());
    out.push_back(hex(bytes.data(), std::min(header, max_segment_bytes)));
    out.push_back(hex(bytes.data() + header, std::min(bytes.size() - header, max_segment_bytes)));
  }
  return out;
}

std::size_t train_lens_spm(const std::vector<std::string>& files, const SpmTrainOptions& options,
                           const std::string& model_path) {
  const std::string text_path = model_path + ".train.txt";
  std::size_t flows = 0;
  {
    std::ofstream text(text_path);
    if (!text) throw std::runtime_error(text_path + ": cannot create the tokenizer's training text");
    FlowTableOptions flow_options;
    flow_options.keep_packets = static_cast<std::size_t>(options.packets);
    flow_options.keep_bytes = 1024;
    for (const auto& file : files) {
      if (flows >= options.sample_flows) break;
      try {
        CaptureReader reader(file);
        FlowTable table(flow_options, [&](Flow&& flow) {
          if (flows >= options.sample_flows) return;
          ++flows;
          for (const auto& s :
               lens_hex_segments(flow, options.packets, options.max_segment_bytes, options.anonymize)) {
            if (!s.empty()) text << s << '\n';
          }
        });
        RawPacket raw;
        PacketView view;
        while (reader.next(raw) && flows < options.sample_flows) {
          if (decode_packet(reader.link_type(), raw.data, raw.caplen, raw.wire_length, view) !=
              DecodeStatus::kOk)
            continue;
          view.timestamp_ns = raw.timestamp_ns;
          table.add(view, file, reader.link_type());
        }
        table.flush();
      } catch (const CaptureError&) {
        // Unreadable files are reported by prep itself; the tokenizer just uses the others.
      }
    }
  }
  if (flows == 0) throw std::runtime_error("spm tokenizer: no flows to train on");
  try {
    train_spm_tokenizer(text_path, options.vocab_size, model_path);
  } catch (...) {
    std::remove(text_path.c_str());
    throw;
  }
  std::remove(text_path.c_str());
  return flows;
}

}  // namespace trafficfm::datasets
