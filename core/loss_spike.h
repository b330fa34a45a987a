// Optional loss-spike guard: a step whose loss lies more than `zscore` standard deviations
// above the mean of the last `window` accepted losses skips its update (as a non-finite loss
// does). Its window is part of the trainer's checkpointed state, so resume stays exact.
#pragma once
#include <cstddef>
#include <deque>
#include <vector>

namespace trafficfm::core {

class LossSpikeGuard {
 public:
  LossSpikeGuard(double zscore, std::size_t window) : zscore_(zscore), window_(window) {}
  bool enabled() const { return zscore_ > 0; }
  // True when `loss` is a spike; otherwise records it. Needs a quarter of the window first.
  bool is_spike(double loss);
  std::vector<double> history() const { return {losses_.begin(), losses_.end()}; }
  void restore(const std::vector<double>& history) { losses_.assign(history.begin(), history.end()); }

 private:
  double zscore_;
  std::size_t window_;
  std::deque<double> losses_;
};

}  // namespace trafficfm::core
