#include "core/json_value.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "core/json.h"

namespace trafficfm::core {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : text_(text) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  bool literal(const char* word) {
    const std::size_t n = std::char_traits<char>::length(word);
    if (text_.compare(pos_, n, word) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }

  JsonValue parse_value(int depth) {
    if (depth > 200) fail("nesting too deep");
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    JsonValue v;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      v.type_ = JsonValue::Type::kObject;
      if (consume('}')) return v;
      do {
        skip_space();
        std::string key = parse_string();
        expect(':');
        v.object_[key] = parse_value(depth + 1);
      } while (consume(','));
      expect('}');
    } else if (c == '[') {
      ++pos_;
      v.type_ = JsonValue::Type::kArray;
      if (consume(']')) return v;
      do {
        v.array_.push_back(parse_value(depth + 1));
      } while (consume(','));
      expect(']');
    } else if (c == '"') {
      v.type_ = JsonValue::Type::kString;
      v.string_ = parse_string();
    } else if (literal("true")) {
      v.type_ = JsonValue::Type::kBool;
      v.bool_ = true;
    } else if (literal("false")) {
      v.type_ = JsonValue::Type::kBool;
    } else if (literal("null")) {
      v.type_ = JsonValue::Type::kNull;
    } else {
      const char* start = text_.c_str() + pos_;
      char* end = nullptr;
      v.number_ = std::strtod(start, &end);
      if (end == start) fail("unexpected character");
      pos_ += static_cast<std::size_t>(end - start);
      v.type_ = JsonValue::Type::kNumber;
    }
    return v;
  }

  std::string parse_string() {
    if (pos_ >= text_.size() || text_[pos_] != '"') fail("expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) fail("short \\u escape");
          const unsigned code =
              static_cast<unsigned>(std::strtoul(text_.substr(pos_, 4).c_str(), nullptr, 16));
          pos_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default:
          fail("bad escape");
      }
    }
    return out;
  }

  const std::string& text_;
  std::size_t pos_ = 0;
};

JsonValue JsonValue::parse(const std::string& text) { return JsonParser(text).parse_document(); }

namespace {
[[noreturn]] void type_error(const char* expected) {
  throw std::runtime_error(std::string("JSON: expected ") + expected);
}
}  // namespace

bool JsonValue::as_bool() const {
  if (type_ != Type::kBool) type_error("a boolean");
  return bool_;
}
double JsonValue::as_number() const {
  if (type_ != Type::kNumber) type_error("a number");
  return number_;
}
std::int64_t JsonValue::as_int() const {
  const double n = as_number();
  if (n != std::floor(n)) type_error("an integer");
  return static_cast<std::int64_t>(n);
}
const std::string& JsonValue::as_string() const {
  if (type_ != Type::kString) type_error("a string");
  return string_;
}
const std::vector<JsonValue>& JsonValue::as_array() const {
  if (type_ != Type::kArray) type_error("an array");
  return array_;
}
const std::map<std::string, JsonValue>& JsonValue::as_object() const {
  if (type_ != Type::kObject) type_error("an object");
  return object_;
}
const JsonValue& JsonValue::operator[](const std::string& key) const {
  const auto& object = as_object();
  const auto it = object.find(key);
  if (it == object.end()) throw std::runtime_error("JSON: missing key '" + key + "'");
  return it->second;
}
bool JsonValue::has(const std::string& key) const { return type_ == Type::kObject && object_.count(key) > 0; }

std::string JsonValue::dump() const {
  switch (type_) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return bool_ ? "true" : "false";
    case Type::kNumber:
      return json_number(number_);
    case Type::kString:
      return json_escape(string_);
    case Type::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < array_.size(); ++i) out += (i ? ", " : "") + array_[i].dump();
      return out + "]";
    }
    case Type::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, value] : object_) {
        out += (first ? "" : ", ") + json_escape(key) + ": " + value.dump();
        first = false;
      }
      return out + "}";
    }
  }
  return "null";
}

}  // namespace trafficfm::core
