#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>

#include "core/errors.h"

namespace trafficfm::core {
namespace {

struct LogState {
  std::mutex mutex;
  LogSettings settings;
  std::ofstream file;
};

LogState& state() {
  static LogState s;
  return s;
}

std::string utc_timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

}  // namespace

LogLevel parse_log_level(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  throw UsageError("unknown log level '" + name + "' (expected debug, info, warn or error)");
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

void configure_logging(const LogSettings& settings) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().settings = settings;
}

const LogSettings& log_settings() { return state().settings; }

void open_log_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().file.close();
  state().file.open(path, std::ios::app);
  if (!state().file) throw std::runtime_error("cannot open log file '" + path + "' for appending");
}

void close_log_file() {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().file.close();
}

std::string format_log_line(LogLevel level, int rank, const std::string& message) {
  std::string line = utc_timestamp();
  line += " [rank ";
  line += std::to_string(rank);
  line += "] ";
  std::string name = log_level_name(level);
  name.resize(5, ' ');
  line += name;
  line += ' ';
  line += message;
  return line;
}

void log_message(LogLevel level, const std::string& message) {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const bool above_threshold = level >= s.settings.level;
  const bool terminal_rank = s.settings.rank == 0 || s.settings.all_ranks || level >= LogLevel::kWarn;
  if (!above_threshold || (!terminal_rank && !s.file.is_open())) return;
  const std::string line = format_log_line(level, s.settings.rank, message);
  if (terminal_rank) {
    // stderr, so that a subcommand's stdout stays machine-readable.
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  if (s.file.is_open()) {
    s.file << line << '\n';
    s.file.flush();
  }
}

}  // namespace trafficfm::core
