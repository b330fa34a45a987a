// Progress of long work. On a terminal: one live line (\r) with count, rate and ETA,
// redrawn at most 10 times a second. Elsewhere (Slurm output files, CI logs): a plain log line
// every `log_interval_s` seconds. Either way a final line with the totals.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace trafficfm::core {

// "1.2k", "3.4M": short counts for progress lines.
std::string human_count(double value);
// A rate for "N unit/s": like human_count, but two significant digits below 10 ("0.25").
std::string human_rate(double per_second);
// "42s", "3m07s", "2h05m": durations for ETAs.
std::string human_duration(double seconds);

class Progress {
 public:
  // total = 0 means unknown (no ETA). `unit` names what is counted ("flows", "packets").
  Progress(std::string label, std::uint64_t total, std::string unit, double log_interval_s = 10.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::uint64_t n = 1);
  void finish();  // idempotent; prints the summary line

  std::uint64_t done() const { return done_; }
  // The line that would be shown now (tests read it).
  std::string render() const;

 private:
  using Clock = std::chrono::steady_clock;
  void maybe_report();

  std::string label_;
  std::uint64_t total_;
  std::string unit_;
  double log_interval_s_;
  std::uint64_t done_ = 0;
  bool live_;
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_report_;
};

}  // namespace trafficfm::core
