// `trafficfm prep`, one rank's part: read the capture files (or flow logs) given to this rank,
// build flows, encode, split and write shards. The launch layer divides files across ranks
// (divide_files) and rank 0 merges the ranks' results into manifest.json (merge_results).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "datasets/capture/packet_view.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/encoders/encoder.h"
#include "datasets/flow/flow_table.h"
#include "datasets/labels/label_table.h"

namespace trafficfm::datasets {

struct PrepOptions {
  std::string out_dir;
  std::string encoder = "mmae";
  EncoderOptions encoder_options;
  FlowTableOptions flow_options;
  std::string split_by = "flow";  // "flow" (5-tuple hash), "file", or "time" (whole-file encoders)
  // Drop a sample whose encoded content is already stored in another split (CorpusWriter).
  bool dedup_across_splits = true;
  double val_fraction = 0.1;
  double test_fraction = 0.1;
  std::uint64_t shard_bytes = 64ull << 20;
  ShardWriteOptions shard_options;
  std::string label_from;             // "" | "dirname" | "filename"
  std::string flow_log_label_column;  // "" = the format's default
  int rank = 0;
  int world = 1;
  int threads = 1;  // this rank's threads: one reads and encodes, the others compress and write
};

struct PrepCounts {
  std::uint64_t files = 0, files_failed = 0, files_truncated = 0;
  std::uint64_t packets = 0, bytes = 0, flows = 0, flow_log_rows = 0, bad_flow_log_rows = 0;
  std::uint64_t duplicates_dropped = 0;  // samples identical to one already in another split
  std::array<std::uint64_t, static_cast<int>(DecodeStatus::kCount)> decode{};  // packets by decode status
  std::map<std::string, std::uint64_t> link_types;                             // "DLT 1" -> files
  std::map<std::string, std::uint64_t> samples;                                // "train/label" -> samples
  std::vector<std::string> problems;     // one line per failed or truncated file
  std::uint64_t label_rows = 0;          // TCP/UDP rows of the labels CSV (same on every rank)
  std::uint64_t label_rows_matched = 0;  // of those, rows a flow of this rank matched
  // An encoder's settings learned from the data (Encoder::learned), merged elementwise: min for
  // names ending in "_min", max otherwise.
  std::map<std::string, std::vector<double>> learned;
  void merge(const PrepCounts& other);
  core::JsonObject to_json() const;
  static PrepCounts from_json(const std::string& text);
};

struct PrepResult {
  PrepCounts counts;
  std::vector<ShardInfo> shards;
};

// Largest-first greedy assignment of files to ranks by size: deterministic and balanced.
std::vector<std::string> divide_files(const std::vector<std::string>& files, int rank, int world);

// `labels` may be null (no labels, or labels from the flow logs / --label-from). Progress is
// reported through `on_file` after each file.
PrepResult prep_files(const PrepOptions& options, const std::vector<std::string>& files, LabelTable* labels,
                      const std::function<void(const std::string&)>& on_file = {});

// Rank 0, after every rank has finished: writes CORPUS/manifest.json from the ranks' results.
Manifest merge_results(const PrepOptions& options, const std::vector<PrepResult>& ranks,
                       const std::vector<std::string>& label_names);

// The text of a finished prep's summary (also what `trafficfm inspect` prints).
std::string format_summary(const Manifest& manifest);

// Serialization of one rank's result, exchanged through the corpus directory.
std::string result_to_json(const PrepResult& result);
PrepResult result_from_json(const std::string& text);

}  // namespace trafficfm::datasets
