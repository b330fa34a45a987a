// The 27 per-flow statistics of the `mmae` encoding (FlowMix and PMP read them), in column order.
#pragma once
#include <array>

#include "datasets/flow/flow.h"

namespace trafficfm::datasets {

constexpr int kMmaeStatistics = 27;
extern const std::array<const char*, kMmaeStatistics> kMmaeStatisticNames;
std::array<float, kMmaeStatistics> mmae_statistics(const Flow& flow);

}  // namespace trafficfm::datasets
