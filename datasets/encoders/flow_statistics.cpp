#include "datasets/encoders/flow_statistics.h"

namespace trafficfm::datasets {

const std::array<const char*, kMmaeStatistics> kMmaeStatisticNames = {
    "duration_s",     "packets",          "bytes",         "fwd_packets",        "fwd_bytes",
    "bwd_packets",    "bwd_bytes",        "size_min",      "size_max",           "size_mean",
    "size_std",       "fwd_size_mean",    "fwd_size_std",  "bwd_size_mean",      "bwd_size_std",
    "iat_min_s",      "iat_max_s",        "iat_mean_s",    "iat_std_s",          "fwd_iat_mean_s",
    "bwd_iat_mean_s", "bytes_per_s",      "packets_per_s", "bwd_fwd_byte_ratio", "payload_bytes",
    "tcp_syn_count",  "tcp_fin_rst_count"};

std::array<float, kMmaeStatistics> mmae_statistics(const Flow& f) {
  const double duration = (f.last_ns - f.first_ns) * 1e-9;
  const double rate_base = duration > 0 ? duration : 1e-6;  // one-packet flows: avoid dividing by 0
  const DirectionStats& all = f.both;
  return {static_cast<float>(duration),
          static_cast<float>(all.packets),
          static_cast<float>(all.bytes),
          static_cast<float>(f.forward.packets),
          static_cast<float>(f.forward.bytes),
          static_cast<float>(f.backward.packets),
          static_cast<float>(f.backward.bytes),
          static_cast<float>(all.size_min),
          static_cast<float>(all.size_max),
          static_cast<float>(all.size_mean),
          static_cast<float>(all.size_std()),
          static_cast<float>(f.forward.size_mean),
          static_cast<float>(f.forward.size_std()),
          static_cast<float>(f.backward.size_mean),
          static_cast<float>(f.backward.size_std()),
          static_cast<float>(all.iat_min),
          static_cast<float>(all.iat_max),
          static_cast<float>(all.iat_mean),
          static_cast<float>(all.iat_std()),
          static_cast<float>(f.forward.iat_mean),
          static_cast<float>(f.backward.iat_mean),
          static_cast<float>(all.bytes / rate_base),
          static_cast<float>(all.packets / rate_base),
          static_cast<float>(f.forward.bytes ? static_cast<double>(f.backward.bytes) / f.forward.bytes : 0.0),
          static_cast<float>(all.payload_bytes),
          static_cast<float>(f.tcp_flag_counts[1]),
          static_cast<float>(f.tcp_flag_counts[0] + f.tcp_flag_counts[2])};
}

}  // namespace trafficfm::datasets
