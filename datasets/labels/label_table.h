// Per-flow labels keyed by 5-tuple (either direction) and, when the CSV has a `file` column,
// by capture file name. Columns: src_ip, src_port, dst_ip, dst_port, one of l4 / proto /
// protocol (TCP, UDP, ICMP, ICMPV6 or a number), optional file, and the label column
// (--label-column; default `label`, else `category`). `../shared/data/ndpi/flows.csv` and
// `trafficfm synth`'s labels.csv are both read as they are.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "datasets/flow/flow.h"

namespace trafficfm::datasets {

std::uint8_t protocol_number(const std::string& name);  // "TCP" -> 6; 0 when unknown

class LabelTable {
 public:
  // Throws std::runtime_error naming the file (and line) on unreadable or malformed input.
  static LabelTable from_csv(const std::string& path, const std::string& column = "");
  // Names only, for --label-from dirname|filename: ids by sorted name.
  static LabelTable from_names(std::vector<std::string> names);

  const std::vector<std::string>& names() const { return names_; }
  int id_of(const std::string& name) const;  // -1 when unknown
  // Label id for a flow of capture `file` (base name), or -1. Counts the hit.
  int lookup(const std::string& file, const FlowKey& key);
  bool keyed_by_file() const { return by_file_; }

  struct FileMatch {
    std::uint64_t rows = 0;     // label rows for this file (TCP/UDP only)
    std::uint64_t matched = 0;  // of those, rows some flow matched
  };
  // Per capture file: how many of its TCP/UDP rows a flow matched.
  std::map<std::string, FileMatch> match_report() const;
  std::size_t rows() const { return rows_.size(); }
  std::size_t skipped_rows() const { return skipped_rows_; }  // unparsable addresses

 private:
  struct Row {
    std::string file;
    std::uint8_t protocol = 0;
    int label = -1;
    std::uint32_t hits = 0;
  };
  std::vector<std::string> names_;
  std::vector<Row> rows_;
  std::unordered_map<FlowKey, std::vector<std::size_t>, FlowKeyHasher> index_;  // key -> rows
  bool by_file_ = false;
  std::size_t skipped_rows_ = 0;
};

}  // namespace trafficfm::datasets
