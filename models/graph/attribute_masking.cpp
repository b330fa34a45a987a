#include "models/graph/attribute_masking.h"

#include <algorithm>

#include "datasets/encoders/flows_encoder.h"
#include "models/common/sample_random.h"

namespace trafficfm::models {

torch::Tensor draw_masked_flows(const GraphInputs& in, double fraction,
                                const std::vector<std::uint64_t>& keys) {
  const auto flows = in.flow_begin.back();
  auto masked = torch::zeros({flows}, torch::kBool);
  std::int64_t widest = 0;
  for (std::int64_t r = 0; r < in.rows; ++r)
    widest = std::max(widest, in.flow_begin[r + 1] - in.flow_begin[r]);
  if (fraction <= 0 || widest == 0) return masked.to(in.flow_x.device());
  constexpr std::uint64_t kMaskStream = 0x6d61736b00ULL;  // "mask"
  const auto u = per_sample_uniform(keys, widest, kMaskStream);
  const auto own = in.flow_own.cpu();
  const auto* own_p = own.data_ptr<bool>();
  const auto* u_p = u.data_ptr<float>();
  auto* m = masked.data_ptr<bool>();
  for (std::int64_t r = 0; r < in.rows; ++r) {
    for (std::int64_t v = in.flow_begin[r]; v < in.flow_begin[r + 1]; ++v)
      m[v] = own_p[v] && u_p[r * widest + (v - in.flow_begin[r])] < fraction;
  }
  return masked.to(in.flow_x.device());
}

torch::Tensor mask_flow_features(const torch::Tensor& flow_x, const torch::Tensor& masked) {
  constexpr std::int64_t s = datasets::kFlowStatistics, described = 2 * s + 5;  // stats, bits, protocol, IPv6
  auto hidden = torch::zeros({1, described}, flow_x.options());
  hidden.slice(1, s, 2 * s).fill_(1.0);  // every statistic missing
  const auto head = torch::where(masked.unsqueeze(1), hidden, flow_x.slice(1, 0, described));
  return torch::cat({head, flow_x.slice(1, described)}, 1);  // the order encoding stays
}

}  // namespace trafficfm::models
