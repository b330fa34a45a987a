// A small JSON reader for the files trafficfm itself writes (manifests, meta.json). Strict:
// any syntax error throws std::runtime_error with the byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trafficfm::core {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  static JsonValue parse(const std::string& text);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  // Typed access; each throws std::runtime_error naming the expected type on mismatch.
  bool as_bool() const;
  double as_number() const;
  std::int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<JsonValue>& as_array() const;
  const std::map<std::string, JsonValue>& as_object() const;
  // Object member; throws naming the key when missing.
  const JsonValue& operator[](const std::string& key) const;
  bool has(const std::string& key) const;
  // Back to JSON text (objects with sorted keys), e.g. to copy part of one file into another.
  std::string dump() const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::map<std::string, JsonValue> object_;
};

}  // namespace trafficfm::core
