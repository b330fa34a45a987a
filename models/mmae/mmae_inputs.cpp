#include "models/mmae/mmae_inputs.h"

#include "models/common/sample_random.h"
#include "models/mmae/mmae_config.h"

namespace trafficfm::models {

std::vector<std::string> mmae_columns() { return {"bytes", "pkt_len", "pkt_time", "stats", "label"}; }

MmaeInputs mmae_inputs(const datasets::Batch& batch, const torch::Tensor& token_packet, std::uint64_t seed,
                       const torch::Device& device) {
  const auto n = static_cast<std::int64_t>(batch.rows);
  auto from = [&](const void* data, std::vector<std::int64_t> shape, torch::Dtype type) {
    return torch::from_blob(const_cast<void*>(data), shape, type).clone();
  };
  MmaeInputs in;
  auto bytes =
      from(batch.column<std::uint8_t>("bytes"), {n, MmaeConfig::kBytes}, torch::kUInt8).to(torch::kFloat);
  in.payload = (bytes / 255.0 - 0.5) / 0.5;
  auto lengths = from(batch.column<std::int32_t>("pkt_len"), {n, MmaeConfig::kPackets}, torch::kInt32)
                     .to(torch::kFloat) /
                 1500.0;
  auto times =
      torch::log1p(
          from(batch.column<float>("pkt_time"), {n, MmaeConfig::kPackets}, torch::kFloat).clamp_min(0) *
          1000.0) /
      10.0;
  in.signals = torch::stack({lengths.index_select(1, token_packet), times.index_select(1, token_packet)}, -1);
  auto stats = from(batch.column<float>("stats"), {n, MmaeConfig::kStatistics}, torch::kFloat);
  in.stats = torch::nan_to_num(stats.sign() * torch::log1p(stats.abs()), 0.0, 0.0, 0.0);
  in.labels = from(batch.column<std::int32_t>("label"), {n}, torch::kInt32).to(torch::kLong);
  in.keys = sample_keys(seed, batch.epoch, batch.sample_index);
  if (device != torch::kCPU) {
    in.payload = in.payload.to(device);
    in.signals = in.signals.to(device);
    in.stats = in.stats.to(device);
    in.labels = in.labels.to(device);
  }
  return in;
}

}  // namespace trafficfm::models
