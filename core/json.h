// A minimal JSON object writer: flat or nested objects of numbers, strings, booleans and
// arrays, in insertion order. Enough for metrics lines, manifests and reports; no parser.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trafficfm::core {

std::string json_escape(const std::string& text);  // with the surrounding quotes
// Shortest text that reads back to the same double; non-finite values become null, because
// JSON has no NaN/Infinity (the metrics writer counts them separately).
std::string json_number(double value);
// ["a", "b"]
std::string json_string_array(const std::vector<std::string>& values);

class JsonObject {
 public:
  JsonObject& set(const std::string& key, double value);
  JsonObject& set(const std::string& key, std::int64_t value);
  JsonObject& set(const std::string& key, std::uint64_t value);
  JsonObject& set(const std::string& key, int value) { return set(key, static_cast<std::int64_t>(value)); }
  JsonObject& set(const std::string& key, bool value);
  JsonObject& set(const std::string& key, const std::string& value);
  JsonObject& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
  JsonObject& set(const std::string& key, const JsonObject& value);
  JsonObject& set(const std::string& key, const std::vector<double>& values);
  JsonObject& set(const std::string& key, const std::vector<std::string>& values);
  JsonObject& set_raw(const std::string& key, const std::string& json_text);

  bool empty() const { return fields_.empty(); }
  std::string str() const;  // one line, no trailing newline

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // key, encoded value
};

}  // namespace trafficfm::core
