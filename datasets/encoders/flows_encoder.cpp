#include "datasets/encoders/flows_encoder.h"

#include "core/sha256.h"
#include "datasets/encoders/encoder.h"

namespace trafficfm::datasets {

const std::array<const char*, kFlowStatistics> kFlowStatisticNames = {
    "duration_s",
    // bidirectional, src->dst (client->server), dst->src
    "bi_packets", "bi_bytes", "bi_size_min", "bi_size_max", "bi_size_mean", "bi_size_std", "bi_iat_min_s",
    "bi_iat_max_s", "bi_iat_mean_s", "bi_iat_std_s", "src2dst_packets", "src2dst_bytes", "src2dst_size_min",
    "src2dst_size_max", "src2dst_size_mean", "src2dst_size_std", "src2dst_iat_min_s", "src2dst_iat_max_s",
    "src2dst_iat_mean_s", "src2dst_iat_std_s", "dst2src_packets", "dst2src_bytes", "dst2src_size_min",
    "dst2src_size_max", "dst2src_size_mean", "dst2src_size_std", "dst2src_iat_min_s", "dst2src_iat_max_s",
    "dst2src_iat_mean_s", "dst2src_iat_std_s", "tcp_fin", "tcp_syn", "tcp_rst", "tcp_psh", "tcp_ack",
    "tcp_urg", "tcp_ece", "tcp_cwr"};

std::uint64_t host_pseudonym(const std::string& key, const IpAddress& address) {
  core::Sha256 hash;
  hash.update(key.data(), key.size());
  hash.update(&address.family, 1);
  hash.update(address.bytes.data(), address.bytes.size());
  const std::string hex = hash.hex_digest();
  return std::stoull(hex.substr(0, 16), nullptr, 16);
}

std::vector<ColumnSpec> flow_record_schema() {
  return {
      {"start", DType::kFloat64, {}, "first packet, seconds since the Unix epoch (as the source gives it)"},
      {"end", DType::kFloat64, {}, "last packet, seconds"},
      {"src_host", DType::kUint64, {}, "keyed pseudonym of the client address"},
      {"dst_host", DType::kUint64, {}, "keyed pseudonym of the server address"},
      {"src_port", DType::kInt32, {}, "client port (ICMP: 0)"},
      {"dst_port", DType::kInt32, {}, "server port"},
      {"protocol", DType::kInt32, {}, "IP protocol number"},
      {"ip_version", DType::kInt32, {}, "4 or 6"},
      {"stats",
       DType::kFloat32,
       {kFlowStatistics},
       "39 statistics (manifest: encoder.statistics); NaN = unknown"}};
}

void append_flow_record(const FlowRecord& r, const std::string& key, ColumnBuffer& out) {
  out.put(0, r.start_s);
  out.put(1, r.end_s);
  out.put(2, host_pseudonym(key, r.src));
  out.put(3, host_pseudonym(key, r.dst));
  out.put(4, static_cast<std::int32_t>(r.src_port));
  out.put(5, static_cast<std::int32_t>(r.dst_port));
  out.put(6, static_cast<std::int32_t>(r.protocol));
  out.put(7, static_cast<std::int32_t>(r.src.family));
  out.put(8, r.stats.data(), r.stats.size());
}

namespace {

void put_direction(const DirectionStats& d, float* s) {
  s[0] = static_cast<float>(d.packets);
  s[1] = static_cast<float>(d.bytes);
  s[2] = static_cast<float>(d.size_min);
  s[3] = static_cast<float>(d.size_max);
  s[4] = static_cast<float>(d.size_mean);
  s[5] = static_cast<float>(d.size_std());
  s[6] = static_cast<float>(d.iat_min);
  s[7] = static_cast<float>(d.iat_max);
  s[8] = static_cast<float>(d.iat_mean);
  s[9] = static_cast<float>(d.iat_std());
}

}  // namespace

FlowRecord flow_record_of(const Flow& flow) {
  FlowRecord r;
  r.start_s = flow.first_ns * 1e-9;
  r.end_s = flow.last_ns * 1e-9;
  r.src = flow.client;
  r.dst = flow.server;
  r.src_port = flow.client_port;
  r.dst_port = flow.server_port;
  r.protocol = flow.protocol;
  r.stats[0] = static_cast<float>(r.end_s - r.start_s);
  put_direction(flow.both, &r.stats[1]);
  put_direction(flow.forward, &r.stats[11]);
  put_direction(flow.backward, &r.stats[21]);
  for (int bit = 0; bit < 8; ++bit) r.stats[31 + bit] = static_cast<float>(flow.tcp_flag_counts[bit]);
  return r;
}

namespace {

class FlowsEncoder : public Encoder {
 public:
  explicit FlowsEncoder(const EncoderOptions& options) : key_(options.pseudonym_key) {}
  std::string name() const override { return "flows"; }
  core::JsonObject settings() const override {
    return core::JsonObject()
        .set("pseudonyms", "sha256(key || family || address)[0:8], key not stored")
        .set("statistics", std::vector<std::string>(kFlowStatisticNames.begin(), kFlowStatisticNames.end()));
  }
  std::vector<ColumnSpec> schema() const override { return flow_record_schema(); }
  void adjust(FlowTableOptions&) const override {}
  bool encode(const Flow& flow, ColumnBuffer& out) override {
    append_flow_record(flow_record_of(flow), key_, out);
    return true;
  }

 private:
  std::string key_;
};

}  // namespace

std::unique_ptr<Encoder> make_flows_encoder(const EncoderOptions& options) {
  return std::make_unique<FlowsEncoder>(options);
}

}  // namespace trafficfm::datasets
