#include "core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/log.h"

namespace trafficfm::core {

std::string human_count(double value) {
  const char* suffixes[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::fabs(value) >= 1000.0 && i < 4) {
    value /= 1000.0;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f%s" : "%.1f%s", value, suffixes[i]);
  return buf;
}

std::string human_rate(double per_second) {
  // Slow work (a training step every few seconds) must not read "0 steps/s".
  if (std::fabs(per_second) >= 10.0 || per_second == 0.0) return human_count(per_second);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", per_second);
  return buf;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

Progress::Progress(std::string label, std::uint64_t total, std::string unit, double log_interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      log_interval_s_(log_interval_s),
      live_(isatty(STDERR_FILENO) == 1 && log_settings().rank == 0),
      start_(Clock::now()),
      last_report_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(std::uint64_t n) {
  done_ += n;
  maybe_report();
}

std::string Progress::render() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  std::string line = label_ + ": " + human_count(static_cast<double>(done_));
  if (total_ > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * done_ / total_);
    line += "/" + human_count(static_cast<double>(total_)) + " " + unit_ + pct;
  } else {
    line += " " + unit_;
  }
  line += ", " + human_rate(rate) + " " + unit_ + "/s, elapsed " + human_duration(elapsed);
  if (total_ > 0 && rate > 0 && done_ < total_) {
    line += ", ETA " + human_duration((total_ - done_) / rate);
  }
  return line;
}

void Progress::maybe_report() {
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_report_).count();
  if (live_) {
    if (since < 0.1) return;
    std::fprintf(stderr, "\r\033[K%s", render().c_str());
    std::fflush(stderr);
    last_report_ = now;
  } else if (since >= log_interval_s_) {
    log_info(render());
    last_report_ = now;
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (live_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  log_info(label_, ": done, ", done_, " ", unit_, " in ", human_duration(elapsed), " (",
           human_rate(elapsed > 0 ? done_ / elapsed : 0.0), " ", unit_, "/s)");
}

}  // namespace trafficfm::core
