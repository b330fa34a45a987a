#include "datasets/corpus/verified_shards.h"

#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/json.h"
#include "core/json_value.h"

namespace trafficfm::datasets {

namespace {
const char* const kFile = "/verified.json";
}

VerifyShards parse_verify_shards(const std::string& text) {
  if (text == "never") return VerifyShards::kNever;
  if (text == "once") return VerifyShards::kOnce;
  if (text == "always") return VerifyShards::kAlways;
  throw std::invalid_argument("shard verification must be never, once or always, not '" + text + "'");
}

ShardStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error(path + ": " + std::strerror(errno));
  ShardStamp s;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

std::int64_t wall_clock_ns() {
  struct timespec t {};
  clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

bool VerifiedShard::vouches_for(const std::string& manifest_sha256, const ShardStamp& now) const {
  constexpr std::int64_t kSettled = 2000000000;  // 2 s: far beyond any file-time granularity
  return sha256 == manifest_sha256 && stamp == now && stamp.mtime_ns + kSettled <= verified_ns;
}

VerifiedShards read_verified_shards(const std::string& corpus_dir) {
  VerifiedShards out;
  std::ifstream in(corpus_dir + kFile);
  if (!in) return out;
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto json = core::JsonValue::parse(text.str());
    for (const auto& [file, entry] : json["shards"].as_object()) {
      VerifiedShard v;
      v.sha256 = entry["sha256"].as_string();
      v.stamp.size = static_cast<std::uint64_t>(entry["size"].as_int());
      // Nanosecond times exceed a double's 53 bits: they are stored as decimal strings.
      v.stamp.mtime_ns = std::stoll(entry["mtime_ns"].as_string());
      v.verified_ns = std::stoll(entry["verified_ns"].as_string());
      out[file] = v;
    }
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

bool record_verified_shards(const std::string& corpus_dir, const VerifiedShards& checked) {
  if (checked.empty()) return true;
  VerifiedShards all = read_verified_shards(corpus_dir);
  for (const auto& [file, entry] : checked) all[file] = entry;
  core::JsonObject shards;
  for (const auto& [file, entry] : all) {
    shards.set(file, core::JsonObject()
                         .set("sha256", entry.sha256)
                         .set("size", entry.stamp.size)
                         .set("mtime_ns", std::to_string(entry.stamp.mtime_ns))
                         .set("verified_ns", std::to_string(entry.verified_ns)));
  }
  try {
    core::write_file_atomically(corpus_dir + kFile,
                                core::JsonObject().set("format", 1).set("shards", shards).str() + "\n");
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

}  // namespace trafficfm::datasets
