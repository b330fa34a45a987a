// Logging: levels, UTC timestamps, a rank prefix. By default only rank 0 prints info and
// debug to the terminal (hundreds of ranks repeating one line helps nobody); warnings and
// errors print from every rank. A per-rank log file, when opened, receives every line.
#pragma once
#include <memory>
#include <sstream>
#include <string>

namespace trafficfm::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

LogLevel parse_log_level(const std::string& name);  // "debug|info|warn|error"; throws UsageError
const char* log_level_name(LogLevel level);

struct LogSettings {
  LogLevel level = LogLevel::kInfo;
  int rank = 0;
  int world_size = 1;
  bool all_ranks = false;  // let every rank print info/debug to the terminal
};

void configure_logging(const LogSettings& settings);
const LogSettings& log_settings();

// Appends every line of this process (whatever the terminal filter) to PATH.
void open_log_file(const std::string& path);
void close_log_file();

// Formats one line without emitting it (used by tests and by the sink).
std::string format_log_line(LogLevel level, int rank, const std::string& message);

void log_message(LogLevel level, const std::string& message);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

template <typename... Args>
void log_debug(const Args&... args) {
  log_message(LogLevel::kDebug, detail::concat(args...));
}
template <typename... Args>
void log_info(const Args&... args) {
  log_message(LogLevel::kInfo, detail::concat(args...));
}
template <typename... Args>
void log_warn(const Args&... args) {
  log_message(LogLevel::kWarn, detail::concat(args...));
}
template <typename... Args>
void log_error(const Args&... args) {
  log_message(LogLevel::kError, detail::concat(args...));
}

}  // namespace trafficfm::core
