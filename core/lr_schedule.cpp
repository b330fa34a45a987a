#include "core/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trafficfm::core {

double LrSchedule::at(std::uint64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return peak * static_cast<double>(step + 1) / warmup_steps;
  const double floor = peak * min_ratio;
  const std::uint64_t span = total_steps > warmup_steps ? total_steps - warmup_steps : 1;
  const double progress = std::min(1.0, static_cast<double>(step - std::min(step, warmup_steps)) / span);
  if (decay == "cosine") return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  if (decay == "linear") return floor + (peak - floor) * (1.0 - progress);
  if (decay == "constant") return peak;
  throw std::invalid_argument("unknown learning-rate decay '" + decay + "' (cosine, linear or constant)");
}

}  // namespace trafficfm::core
