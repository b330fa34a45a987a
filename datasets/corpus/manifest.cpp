#include "datasets/corpus/manifest.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/json_value.h"

namespace trafficfm::datasets {

const char* const kSplitNames[3] = {"train", "val", "test"};

std::uint64_t Manifest::samples(const std::string& split) const {
  std::uint64_t n = 0;
  for (const auto& s : shards) n += s.split == split ? s.samples : 0;
  return n;
}

std::vector<ShardInfo> Manifest::shards_of(const std::string& split) const {
  std::vector<ShardInfo> out;
  for (const auto& s : shards) {
    if (s.split == split) out.push_back(s);
  }
  return out;
}

std::string shards_to_json(const std::vector<ShardInfo>& shards) {
  std::string text = "[";
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    text += (i ? ",\n    " : "\n    ") + core::JsonObject()
                                             .set("file", s.file)
                                             .set("split", s.split)
                                             .set("samples", s.samples)
                                             .set("bytes", s.bytes)
                                             .set("sha256", s.sha256)
                                             .str();
  }
  return text + "\n  ]";
}

ShardInfo shard_from_json(const core::JsonValue& s) {
  ShardInfo info;
  info.file = s["file"].as_string();
  info.split = s["split"].as_string();
  info.samples = static_cast<std::uint64_t>(s["samples"].as_int());
  info.bytes = static_cast<std::uint64_t>(s["bytes"].as_int());
  info.sha256 = s["sha256"].as_string();
  if (info.file.find('/') != std::string::npos || info.file.find("..") != std::string::npos) {
    throw std::runtime_error("shard file name '" + info.file + "' leaves the corpus directory");
  }
  return info;
}

void write_manifest(const std::string& corpus_dir, const Manifest& m) {
  std::string columns = "[";
  for (std::size_t i = 0; i < m.columns.size(); ++i) {
    const auto& c = m.columns[i];
    std::vector<double> shape(c.shape.begin(), c.shape.end());
    core::JsonObject column;
    column.set("name", c.name).set("dtype", dtype_name(c.type)).set("shape", shape);
    if (c.ragged) column.set("ragged", true);  // absent: a fixed column (corpora before ragged ones)
    column.set("description", c.description);
    columns += (i ? ",\n    " : "\n    ") + column.str();
  }
  columns += "\n  ]";
  const std::string shards = shards_to_json(m.shards);
  std::string text = "{\n  \"format_version\": " + std::to_string(m.format_version) +
                     ",\n  \"encoder\": " + core::json_escape(m.encoder) +
                     ",\n  \"encoder_settings\": " + m.encoder_settings_json +
                     ",\n  \"columns\": " + columns +
                     ",\n  \"label_names\": " + core::json_string_array(m.label_names) +
                     ",\n  \"shards\": " + shards + ",\n  \"summary\": " + m.summary_json + "\n}\n";
  core::write_file_atomically(corpus_dir + "/manifest.json", text);
}

namespace {

DType parse_dtype(const std::string& name, const std::string& path) {
  for (DType t : {DType::kUint8, DType::kInt8, DType::kInt32, DType::kInt64, DType::kUint64, DType::kFloat32,
                  DType::kFloat64}) {
    if (name == dtype_name(t)) return t;
  }
  throw std::runtime_error(path + ": unknown dtype '" + name + "'");
}

}  // namespace

Manifest read_manifest(const std::string& corpus_dir) {
  const std::string path = corpus_dir + "/manifest.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": missing (not a trafficfm corpus, or prep did not finish)");
  std::stringstream text;
  text << in.rdbuf();
  Manifest m;
  try {
    const auto doc = core::JsonValue::parse(text.str());
    m.format_version = static_cast<int>(doc["format_version"].as_int());
    if (m.format_version > kCorpusFormatVersion) {
      throw std::runtime_error("format version " + std::to_string(m.format_version) +
                               " is newer than this build reads (" + std::to_string(kCorpusFormatVersion) +
                               ")");
    }
    m.encoder = doc["encoder"].as_string();
    for (const auto& c : doc["columns"].as_array()) {
      ColumnSpec spec;
      spec.name = c["name"].as_string();
      spec.type = parse_dtype(c["dtype"].as_string(), path);
      for (const auto& d : c["shape"].as_array())
        spec.shape.push_back(static_cast<std::uint64_t>(d.as_int()));
      spec.description = c["description"].as_string();
      spec.ragged = c.has("ragged") && c["ragged"].as_bool();
      m.columns.push_back(spec);
    }
    for (const auto& n : doc["label_names"].as_array()) m.label_names.push_back(n.as_string());
    for (const auto& s : doc["shards"].as_array()) m.shards.push_back(shard_from_json(s));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  // Keep the raw text of the free-form objects for inspect.
  const std::string& t = text.str();
  auto object_after = [&](const std::string& key) -> std::string {
    const auto at = t.find("\"" + key + "\": ");
    if (at == std::string::npos) return "{}";
    std::size_t i = at + key.size() + 4, depth = 0;
    const std::size_t begin = i;
    bool in_string = false;
    for (; i < t.size(); ++i) {
      const char c = t[i];
      if (in_string) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return t.substr(begin, i + 1 - begin);
      }
    }
    return "{}";
  };
  m.encoder_settings_json = object_after("encoder_settings");
  m.summary_json = object_after("summary");
  return m;
}

}  // namespace trafficfm::datasets
