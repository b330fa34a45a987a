#include "core/trainer/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/json.h"
#include "core/json_value.h"

namespace trafficfm::core {

namespace {

constexpr std::uint64_t kMaxHeader = 100u << 20;  // as the reference implementation

const std::vector<std::pair<torch::ScalarType, const char*>>& dtype_names() {
  static const std::vector<std::pair<torch::ScalarType, const char*>> names = {
      {torch::kFloat, "F32"}, {torch::kDouble, "F64"}, {torch::kHalf, "F16"},  {torch::kBFloat16, "BF16"},
      {torch::kLong, "I64"},  {torch::kInt, "I32"},    {torch::kShort, "I16"}, {torch::kChar, "I8"},
      {torch::kByte, "U8"},   {torch::kBool, "BOOL"}};
  return names;
}

const char* dtype_name(torch::ScalarType type, const std::string& tensor) {
  for (const auto& [t, name] : dtype_names()) {
    if (t == type) return name;
  }
  throw std::invalid_argument("safetensors: tensor '" + tensor + "' has a type safetensors cannot hold");
}

std::string json_string(const std::string& s) {
  // The header's strings through the JSON writer's escaping.
  const std::string object = JsonObject().set("s", s).str();
  return object.substr(5, object.size() - 6);
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> data;
  std::string header = "{";
  std::uint64_t offset = 0;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      header += (first ? "" : ",") + json_string(key) + ":" + json_string(value);
      first = false;
    }
    header += "}";
  }
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header += std::string(header.size() > 1 ? "," : "") + json_string(name) + ":{\"dtype\":\"" +
              dtype_name(t.scalar_type(), name) + "\",\"shape\":[";
    for (std::int64_t d = 0; d < t.dim(); ++d) header += (d ? "," : "") + std::to_string(t.size(d));
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
    data.push_back(t);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  write_file_atomically(path, [&](const ByteSink& sink) {
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
    sink(length, 8);
    sink(header.data(), header.size());
    for (const auto& t : data) sink(t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size());
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  auto fail = [&](const std::string& problem) { throw std::runtime_error(path + ": " + problem); };
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("cannot open");
  const auto size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  if (size < 8) fail("truncated: " + std::to_string(size) + " bytes, not even the header length");
  std::uint8_t length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<std::uint64_t>(length_bytes[i]) << (8 * i);
  if (length > kMaxHeader || length > size - 8)
    fail("header length " + std::to_string(length) + " exceeds the file (" + std::to_string(size) +
         " bytes)");
  std::string header(length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(length));
  JsonValue json;
  try {
    json = JsonValue::parse(header);
  } catch (const std::exception& e) {
    fail(std::string("header is not JSON: ") + e.what());
  }
  if (json.type() != JsonValue::Type::kObject) fail("header is not a JSON object");
  const std::uint64_t data_size = size - 8 - length;
  SafetensorsFile out;
  std::vector<std::pair<std::uint64_t, std::string>> order;  // by offset: the file's order
  for (const auto& [name, entry] : json.as_object()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.as_object()) out.metadata[key] = value.as_string();
      continue;
    }
    if (!entry.has("dtype") || !entry.has("shape") || !entry.has("data_offsets"))
      fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
    const auto& offsets = entry["data_offsets"].as_array();
    if (offsets.size() != 2) fail("tensor '" + name + "': data_offsets must be [begin, end]");
    order.emplace_back(static_cast<std::uint64_t>(offsets[0].as_int()), name);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [begin_offset, name] : order) {
    const JsonValue& entry = json[name];
    const std::string& dtype = entry["dtype"].as_string();
    const auto found = std::find_if(dtype_names().begin(), dtype_names().end(),
                                    [&](const auto& p) { return dtype == p.second; });
    if (found == dtype_names().end()) fail("tensor '" + name + "' has unknown dtype '" + dtype + "'");
    std::vector<std::int64_t> shape;
    std::uint64_t count = 1;
    for (const auto& d : entry["shape"].as_array()) {
      const std::int64_t n = d.as_int();
      if (n < 0 || (n > 0 && count > (UINT64_MAX >> 1) / static_cast<std::uint64_t>(n)))
        fail("tensor '" + name + "' has an impossible shape");
      shape.push_back(n);
      count *= static_cast<std::uint64_t>(n);
    }
    const auto begin = static_cast<std::uint64_t>(entry["data_offsets"].as_array()[0].as_int());
    const auto end = static_cast<std::uint64_t>(entry["data_offsets"].as_array()[1].as_int());
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(found->first));
    const auto bytes = count * static_cast<std::uint64_t>(tensor.element_size());
    if (end < begin || end > data_size || end - begin != bytes) {
      fail("tensor '" + name + "': bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
           ") do not hold its " + std::to_string(bytes) + " bytes within the " + std::to_string(data_size) +
           " of the file's data");
    }
    in.seekg(static_cast<std::streamoff>(8 + length + begin));
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(bytes));
    if (!in) fail("read error in tensor '" + name + "'");
    out.tensors.emplace_back(name, tensor);
  }
  return out;
}

}  // namespace trafficfm::core
