// `mmae`: YaTC's MFR layout. Per flow the first 5 packets, each as 80 bytes of header (from
// the start of the IP header: IP + transport headers, truncated or zero-padded) followed by
// 240 bytes of payload (truncated or zero-padded): 5 x 320 = 1,600 bytes, a 40x40 matrix.
// Plus per-packet IP length, time since the first packet and direction, and 27 statistics.
#include <algorithm>
#include <array>

#include "datasets/encoders/encoder.h"
#include "datasets/encoders/flow_statistics.h"

namespace trafficfm::datasets {
namespace {

constexpr int kPackets = 5;
constexpr std::size_t kHeaderBytes = 80;
constexpr std::size_t kPayloadBytes = 240;
constexpr std::size_t kRowBytes = kHeaderBytes + kPayloadBytes;

class MmaeEncoder : public Encoder {
 public:
  explicit MmaeEncoder(const EncoderOptions& options) : anonymize_(options.anonymize) {}
  std::string name() const override { return "mmae"; }
  core::JsonObject settings() const override {
    return core::JsonObject()
        .set("packets", kPackets)
        .set("header_bytes", static_cast<std::int64_t>(kHeaderBytes))
        .set("payload_bytes", static_cast<std::int64_t>(kPayloadBytes))
        .set("anonymize", anonymize_)
        .set("relative_numbers", anonymize_)  // TCP seq/ack and IPv4 IDs (FlowAnonymizer)
        .set("statistics", std::vector<std::string>(kMmaeStatisticNames.begin(), kMmaeStatisticNames.end()));
  }
  std::vector<ColumnSpec> schema() const override {
    return {
        {"bytes",
         DType::kUint8,
         {kPackets * kRowBytes},
         "5 x (80 header + 240 payload) bytes, YaTC MFR layout"},
        {"pkt_len", DType::kInt32, {kPackets}, "IP length of each of the first 5 packets (0: absent)"},
        {"pkt_time", DType::kFloat32, {kPackets}, "seconds since the flow's first packet"},
        {"pkt_dir", DType::kInt8, {kPackets}, "+1 client->server, -1 server->client, 0 absent"},
        {"stats", DType::kFloat32, {kMmaeStatistics}, "27 flow statistics (manifest: encoder.statistics)"}};
  }
  void adjust(FlowTableOptions& options) const override {
    options.keep_packets = std::max<std::size_t>(options.keep_packets, kPackets);
    // Headers beyond 80 bytes are cut, but the payload starts after the full header.
    options.keep_bytes = std::max<std::size_t>(options.keep_bytes, 1024);
  }
  bool encode(const Flow& flow, ColumnBuffer& out) override {
    std::array<std::uint8_t, kPackets * kRowBytes> matrix{};
    std::array<std::int32_t, kPackets> lengths{};
    std::array<float, kPackets> times{};
    std::array<std::int8_t, kPackets> directions{};
    FlowAnonymizer anonymizer(flow.protocol);
    for (int i = 0; i < kPackets && i < static_cast<int>(flow.packets.size()); ++i) {
      const FlowPacket& p = flow.packets[i];
      const std::vector<std::uint8_t>& bytes = p.bytes;
      std::uint8_t* row = matrix.data() + i * kRowBytes;
      const std::size_t header = std::min<std::size_t>(p.header_length, bytes.size());
      const std::size_t kept_header = std::min(header, kHeaderBytes);
      std::copy_n(bytes.begin(), kept_header, row);
      // Anonymization zeroes fields by position inside the headers, so zeroing the kept header
      // bytes in place equals zeroing a copy of the packet first (without the copy per packet).
      if (anonymize_) anonymizer.apply(row, kept_header, p);
      if (bytes.size() > header) {
        std::copy_n(bytes.begin() + header, std::min(bytes.size() - header, kPayloadBytes),
                    row + kHeaderBytes);
      }
      lengths[i] = static_cast<std::int32_t>(p.ip_length);
      times[i] = static_cast<float>((p.timestamp_ns - flow.first_ns) * 1e-9);
      directions[i] = p.from_client ? 1 : -1;
    }
    const auto stats = mmae_statistics(flow);
    out.put(0, matrix.data(), matrix.size());
    out.put(1, lengths.data(), lengths.size());
    out.put(2, times.data(), times.size());
    out.put(3, directions.data(), directions.size());
    out.put(4, stats.data(), stats.size());
    return true;
  }

 private:
  bool anonymize_;
};

}  // namespace

std::unique_ptr<Encoder> make_mmae_encoder(const EncoderOptions& options) {
  return std::make_unique<MmaeEncoder>(options);
}

}  // namespace trafficfm::datasets
