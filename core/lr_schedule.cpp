#include "core/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trafficfm::core {

double LrSchedule::over(double begin, double end) const {
  const double warmup = static_cast<double>(warmup_steps), total = static_cast<double>(total_steps);
  if (warmup_steps > 0 && begin < warmup) return peak * std::min(end, warmup) / warmup;
  const double floor = peak * min_ratio;
  const double span = total > warmup ? total - warmup : 1.0;
  const double progress = std::min(1.0, std::max(0.0, begin - warmup) / span);
  if (decay == "cosine") return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  if (decay == "linear") return floor + (peak - floor) * (1.0 - progress);
  if (decay == "constant") return peak;
  throw std::invalid_argument("unknown learning-rate decay '" + decay + "' (cosine, linear or constant)");
}

}  // namespace trafficfm::core
