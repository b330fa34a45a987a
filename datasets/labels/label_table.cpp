#include "datasets/labels/label_table.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <stdexcept>

#include "core/log.h"
#include "datasets/labels/csv.h"

namespace trafficfm::datasets {

std::uint8_t protocol_number(const std::string& name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "TCP") return 6;
  if (upper == "UDP") return 17;
  if (upper == "ICMP") return 1;
  if (upper == "ICMPV6" || upper == "IPV6-ICMP") return 58;
  if (upper == "SCTP") return 132;
  if (upper == "ESP") return 50;
  if (upper == "AH") return 51;
  if (upper == "IGMP") return 2;
  if (!upper.empty() && std::all_of(upper.begin(), upper.end(), ::isdigit) && upper.size() <= 3) {
    const int n = std::stoi(upper);
    return n <= 255 ? static_cast<std::uint8_t>(n) : 0;
  }
  return 0;
}

LabelTable LabelTable::from_names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  LabelTable table;
  table.names_ = std::move(names);
  return table;
}

int LabelTable::id_of(const std::string& name) const {
  const auto it = std::lower_bound(names_.begin(), names_.end(), name);
  return it != names_.end() && *it == name ? static_cast<int>(it - names_.begin()) : -1;
}

LabelTable LabelTable::from_csv(const std::string& path, const std::string& column) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the labels CSV");
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(path + ": empty labels CSV");
  const auto header = split_csv_line(line);
  const int src_ip = find_column(header, "src_ip"), src_port = find_column(header, "src_port");
  const int dst_ip = find_column(header, "dst_ip"), dst_port = find_column(header, "dst_port");
  int proto = find_column(header, "l4");
  if (proto < 0) proto = find_column(header, "proto");
  if (proto < 0) proto = find_column(header, "protocol");
  const int file = find_column(header, "file");
  int label = column.empty() ? find_column(header, "label") : find_column(header, column);
  if (label < 0 && column.empty()) label = find_column(header, "category");
  if (src_ip < 0 || src_port < 0 || dst_ip < 0 || dst_port < 0 || proto < 0) {
    throw std::runtime_error(
        path + ": labels CSV needs columns src_ip, src_port, dst_ip, dst_port and l4 (or proto)");
  }
  if (label < 0) {
    throw std::runtime_error(path + ": no label column '" +
                             (column.empty() ? "label' or 'category" : column) + "'");
  }

  struct Pending {
    std::string file;
    FlowKey key;
    std::string name;
  };
  std::vector<Pending> pending;
  std::set<std::string> names;
  std::size_t line_number = 1, bad_rows = 0, first_bad_line = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty() || line == "\r") continue;
    const auto f = split_csv_line(line);
    const int needed = std::max({src_ip, src_port, dst_ip, dst_port, proto, label, file});
    if (static_cast<int>(f.size()) <= needed) {
      throw std::runtime_error(path + ":" + std::to_string(line_number) + ": expected " +
                               std::to_string(header.size()) + " fields, got " + std::to_string(f.size()));
    }
    IpAddress a, b;
    if (!IpAddress::parse(f[src_ip], a) || !IpAddress::parse(f[dst_ip], b)) {
      // Real exports have the odd mangled address (nDPI prints "2600:1901::7a0b::"): such a
      // row can match no flow; skip it and say so once, rather than refuse the whole file.
      if (bad_rows++ == 0) first_bad_line = line_number;
      continue;
    }
    auto port = [&](const std::string& text) -> std::uint16_t {
      if (text.empty()) return 0;
      const long v = std::strtol(text.c_str(), nullptr, 10);
      if (v < 0 || v > 65535)
        throw std::runtime_error(path + ":" + std::to_string(line_number) + ": bad port");
      return static_cast<std::uint16_t>(v);
    };
    Pending p;
    p.file = file >= 0 ? f[file] : "";
    p.key = FlowKey::of(a, port(f[src_port]), b, port(f[dst_port]), protocol_number(f[proto]));
    p.name = f[label];
    names.insert(p.name);
    pending.push_back(std::move(p));
  }
  if (bad_rows > 0) {
    core::log_warn(path, ": skipped ", bad_rows, " row(s) with an unparsable IP address (first at line ",
                   first_bad_line, ")");
  }
  LabelTable table = from_names({names.begin(), names.end()});
  table.skipped_rows_ = bad_rows;
  table.by_file_ = file >= 0;
  for (auto& p : pending) {
    Row row;
    row.file = p.file;
    row.protocol = p.key.protocol;
    row.label = table.id_of(p.name);
    table.index_[p.key].push_back(table.rows_.size());
    table.rows_.push_back(row);
  }
  return table;
}

int LabelTable::lookup(const std::string& file, const FlowKey& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return -1;
  // Several rows can share a 5-tuple (a reused port): take the first not yet matched.
  Row* chosen = nullptr;
  for (std::size_t r : it->second) {
    Row& row = rows_[r];
    if (by_file_ && row.file != file) continue;
    if (!chosen || (chosen->hits > 0 && row.hits == 0)) chosen = &row;
    if (row.hits == 0) break;
  }
  if (!chosen) return -1;
  ++chosen->hits;
  return chosen->label;
}

std::map<std::string, LabelTable::FileMatch> LabelTable::match_report() const {
  std::map<std::string, FileMatch> report;
  for (const auto& row : rows_) {
    if (row.protocol != 6 && row.protocol != 17) continue;
    FileMatch& m = report[row.file];
    ++m.rows;
    m.matched += row.hits > 0;
  }
  return report;
}

}  // namespace trafficfm::datasets
