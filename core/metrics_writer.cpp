#include "core/metrics_writer.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace trafficfm::core {

MetricsWriter::MetricsWriter(const std::string& path, bool truncate) : path_(path) {
  file_ = std::fopen(path.c_str(), truncate ? "w" : "a");
  if (!file_) {
    throw std::runtime_error("cannot open metrics file '" + path + "': " + std::strerror(errno));
  }
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

void MetricsWriter::write(const JsonObject& record) {
  const std::string line = record.str() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw std::runtime_error("cannot write metrics file '" + path_ + "': " + std::strerror(errno));
  }
  ++lines_;
}

}  // namespace trafficfm::core
