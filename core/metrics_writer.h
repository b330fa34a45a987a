// JSON-lines metrics: one object per line, appended and flushed line by line, so a run killed
// at any moment leaves a file whose every complete line parses. The trainer writes it on
// rank 0 (RUN/metrics.jsonl).
#pragma once
#include <cstdio>
#include <string>

#include "core/json.h"

namespace trafficfm::core {

class MetricsWriter {
 public:
  // truncate = false appends (a resumed run continues the file).
  explicit MetricsWriter(const std::string& path, bool truncate = false);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(const JsonObject& record);
  const std::string& path() const { return path_; }
  std::size_t lines_written() const { return lines_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::size_t lines_ = 0;
};

}  // namespace trafficfm::core
