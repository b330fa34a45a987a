// CORPUS/verified.json: the shards whose SHA-256 was checked against the manifest, each with the
// size and modification time it had then. A loader in `once` mode trusts a shard whose size and
// mtime are unchanged since (a requeued job does not re-hash its corpus at every start), hashes
// a shard that changed or that the file does not list, and records what it checked: a corpus is
// hashed once, at the first start that reads it.
// File times are coarse (a kernel tick): a shard rewritten in the same tick as it was verified
// would keep its mtime. As git does for its index, an entry is trusted only if the shard's mtime
// was already 2 s older than the verification, so any later write shows as a newer mtime. A
// content change that keeps both size and mtime (a deliberate touch, bit rot) is what `always`
// is for.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace trafficfm::datasets {

enum class VerifyShards { kNever, kOnce, kAlways };
// "never" | "once" | "always"; throws std::invalid_argument naming the value otherwise.
VerifyShards parse_verify_shards(const std::string& text);

struct ShardStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const ShardStamp& other) const { return size == other.size && mtime_ns == other.mtime_ns; }
};
// Throws std::runtime_error naming the file when it cannot be stat'ed.
ShardStamp stamp_of(const std::string& path);

struct VerifiedShard {
  std::string sha256;
  ShardStamp stamp;          // the file's size and mtime when it was hashed
  std::int64_t verified_ns;  // when it was hashed (wall clock)
  // This entry vouches for the shard at `path` now: same hash as the manifest's, same size and
  // mtime, and that mtime already 2 s old when it was hashed.
  bool vouches_for(const std::string& manifest_sha256, const ShardStamp& now) const;
};
std::int64_t wall_clock_ns();
using VerifiedShards = std::map<std::string, VerifiedShard>;  // by shard file name

// The corpus's verified.json; empty when there is none. One that does not parse counts as none
// (its entries are only a shortcut: the shards are hashed again).
VerifiedShards read_verified_shards(const std::string& corpus_dir);
// Merges `checked` into the file (atomically). Returns false when it cannot be written (a
// read-only corpus): then the next start hashes those shards again.
bool record_verified_shards(const std::string& corpus_dir, const VerifiedShards& checked);

}  // namespace trafficfm::datasets
