// CORPUS/manifest.json: what a corpus holds and how to check it. Written last, atomically,
// so a corpus with a manifest is complete.
//   format_version, encoder, encoder_settings, columns (name, dtype, shape, description),
//   label_names, shards [{file, split, samples, bytes, sha256}], summary (prep's counts).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/json_value.h"
#include "datasets/corpus/columns.h"

namespace trafficfm::datasets {

constexpr int kCorpusFormatVersion = 1;
extern const char* const kSplitNames[3];  // "train", "val", "test"

struct ShardInfo {
  std::string file;   // relative to the corpus directory
  std::string split;  // train | val | test
  std::uint64_t samples = 0;
  std::uint64_t bytes = 0;
  std::string sha256;
};

struct Manifest {
  int format_version = kCorpusFormatVersion;
  std::string encoder;
  std::string encoder_settings_json = "{}";  // raw JSON object
  std::vector<ColumnSpec> columns;
  std::vector<std::string> label_names;
  std::vector<ShardInfo> shards;
  std::string summary_json = "{}";  // raw JSON object

  std::uint64_t samples(const std::string& split) const;
  std::vector<ShardInfo> shards_of(const std::string& split) const;
};

// The shard list as a JSON array (one shard per line) and back; shared by the manifest and
// the per-rank results of a parallel prep.
std::string shards_to_json(const std::vector<ShardInfo>& shards);
// Throws std::runtime_error on a malformed entry or a file name that leaves the corpus.
ShardInfo shard_from_json(const core::JsonValue& entry);

void write_manifest(const std::string& corpus_dir, const Manifest& manifest);
// Throws std::runtime_error naming the file on a missing, unparsable or newer-format manifest.
Manifest read_manifest(const std::string& corpus_dir);

}  // namespace trafficfm::datasets
