#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace trafficfm::core {

std::string json_escape(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[40];
  // %.17g always round-trips; try shorter forms first so logs stay readable.
  for (int precision : {6, 9, 12, 15, 17}) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

std::string json_string_array(const std::vector<std::string>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + json_escape(values[i]);
  return text + "]";
}

JsonObject& JsonObject::set(const std::string& key, double value) { return set_raw(key, json_number(value)); }
JsonObject& JsonObject::set(const std::string& key, std::int64_t value) {
  return set_raw(key, std::to_string(value));
}
JsonObject& JsonObject::set(const std::string& key, std::uint64_t value) {
  return set_raw(key, std::to_string(value));
}
JsonObject& JsonObject::set(const std::string& key, bool value) {
  return set_raw(key, value ? "true" : "false");
}
JsonObject& JsonObject::set(const std::string& key, const std::string& value) {
  return set_raw(key, json_escape(value));
}
JsonObject& JsonObject::set(const std::string& key, const JsonObject& value) {
  return set_raw(key, value.str());
}
JsonObject& JsonObject::set(const std::string& key, const std::vector<double>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + json_number(values[i]);
  return set_raw(key, text + "]");
}
JsonObject& JsonObject::set(const std::string& key, const std::vector<std::string>& values) {
  return set_raw(key, json_string_array(values));
}

JsonObject& JsonObject::set_raw(const std::string& key, const std::string& json_text) {
  for (auto& field : fields_) {
    if (field.first == key) {
      field.second = json_text;
      return *this;
    }
  }
  fields_.emplace_back(key, json_text);
  return *this;
}

std::string JsonObject::str() const {
  std::string out = "{";
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i) out += ", ";
    out += json_escape(fields_[i].first) + ": " + fields_[i].second;
  }
  return out + "}";
}

}  // namespace trafficfm::core
