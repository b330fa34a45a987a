// Learning-rate schedules: linear warmup from 0 to the peak over `warmup_steps`, then a decay
// to `min_ratio` × peak at `total_steps`: cosine, linear, or constant (no decay). A pure
// function of the position, so a resumed run continues exactly. The unit is the run's: steps,
// or samples for a run defined in samples (--train.samples), whose schedule then stays the
// same when a resume changes the global batch (another dp).
#pragma once
#include <cstdint>
#include <string>

namespace trafficfm::core {

struct LrSchedule {
  double peak = 3e-4;
  std::uint64_t warmup_steps = 0;
  std::uint64_t total_steps = 1;
  double min_ratio = 0.1;
  std::string decay = "cosine";  // cosine | linear | constant

  // The rate for optimizer step `step` (0-based). Throws std::invalid_argument on an unknown
  // decay name.
  double at(std::uint64_t step) const {
    return over(static_cast<double>(step), static_cast<double>(step) + 1.0);
  }
  // The rate for a step that covers the positions [begin, end) (in samples: the step's global
  // batch); at(step) is over(step, step + 1).
  double over(double begin, double end) const;
};

}  // namespace trafficfm::core
