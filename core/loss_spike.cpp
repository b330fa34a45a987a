#include "core/loss_spike.h"

#include <cmath>

namespace trafficfm::core {

bool LossSpikeGuard::is_spike(double loss) {
  if (!enabled()) return false;
  if (losses_.size() >= std::max<std::size_t>(4, window_ / 4)) {
    double mean = 0, square = 0;
    for (double l : losses_) mean += l;
    mean /= static_cast<double>(losses_.size());
    for (double l : losses_) square += (l - mean) * (l - mean);
    const double deviation = std::sqrt(square / static_cast<double>(losses_.size()));
    if (deviation > 0 && (loss - mean) / deviation > zscore_) return true;
  }
  losses_.push_back(loss);
  if (losses_.size() > window_) losses_.pop_front();
  return false;
}

}  // namespace trafficfm::core
