#include "datasets/flowlogs/flow_log_reader.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "datasets/labels/csv.h"
#include "datasets/labels/label_table.h"

namespace trafficfm::datasets {
namespace {

std::vector<std::string> split_tabs(const std::string& raw) {
  std::string line = raw;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

bool number(const std::string& text, double& out) {
  if (text.empty() || text == "-" || text == "(empty)") return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0' && std::isfinite(out);
}

struct Columns {
  std::vector<std::string> names;
  int at(const std::string& name) const { return find_column(names, name); }
};

}  // namespace

FlowLogFormat detect_flow_log(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return FlowLogFormat::kNone;
  // Zeek writes #separator first; a log cut by hand may start at its #fields line.
  if (line.rfind("#separator", 0) == 0 || line.rfind("#fields", 0) == 0) return FlowLogFormat::kZeekConn;
  if (line.find("IPV4_SRC_ADDR") != std::string::npos && line.find("L4_SRC_PORT") != std::string::npos) {
    return FlowLogFormat::kNetflowCsv;
  }
  return FlowLogFormat::kNone;
}

std::string default_flow_log_label_column(FlowLogFormat format) {
  return format == FlowLogFormat::kZeekConn ? "label" : "Attack";
}

FlowLogCounts read_flow_log(const std::string& path, FlowLogFormat format, const std::string& label_column,
                            const std::function<void(const FlowRecord&, const std::string&)>& sink) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open flow log");
  FlowLogCounts counts;
  std::string line;
  Columns cols;
  if (format == FlowLogFormat::kZeekConn) {
    while (std::getline(in, line)) {
      if (line.rfind("#fields", 0) == 0) {
        cols.names = split_tabs(line);
        cols.names.erase(cols.names.begin());  // "#fields" itself
        break;
      }
      if (line.empty() || line[0] != '#') break;
    }
    if (cols.names.empty()) throw std::runtime_error(path + ": Zeek log without a #fields header");
  } else {
    if (!std::getline(in, line)) throw std::runtime_error(path + ": empty NetFlow CSV");
    cols.names = split_csv_line(line);
  }
  const bool zeek = format == FlowLogFormat::kZeekConn;
  // Every missing column is named at once, so one fix makes the log readable.
  std::string missing;
  for (const char* name :
       zeek ? std::vector<const char*>{"id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"}
            : std::vector<const char*>{"IPV4_SRC_ADDR", "L4_SRC_PORT", "IPV4_DST_ADDR", "L4_DST_PORT",
                                       "PROTOCOL"}) {
    if (cols.at(name) < 0) missing += (missing.empty() ? "" : ", ") + std::string(name);
  }
  if (!missing.empty()) {
    throw std::runtime_error(path + ": " + (zeek ? "Zeek conn log" : "NetFlow CSV") +
                             " lacks the column(s) " + missing +
                             " (a flow needs both endpoints, both ports and the protocol)");
  }
  auto need = [&](const char* name) { return cols.at(name); };
  const int src = need(zeek ? "id.orig_h" : "IPV4_SRC_ADDR"),
            sport = need(zeek ? "id.orig_p" : "L4_SRC_PORT");
  const int dst = need(zeek ? "id.resp_h" : "IPV4_DST_ADDR"),
            dport = need(zeek ? "id.resp_p" : "L4_DST_PORT");
  const int proto = need(zeek ? "proto" : "PROTOCOL");
  int label = label_column.empty() ? -1 : cols.at(label_column);
  if (zeek && label < 0 && label_column.empty()) label = cols.at("label");

  while (std::getline(in, line)) {
    if (line.empty() || line == "\r" || (zeek && line[0] == '#')) continue;
    ++counts.rows;
    const auto f = zeek ? split_tabs(line) : split_csv_line(line);
    if (f.size() != cols.names.size()) {
      ++counts.bad_rows;
      continue;
    }
    FlowRecord r;
    double v = 0;
    if (!IpAddress::parse(f[src], r.src) || !IpAddress::parse(f[dst], r.dst) || !number(f[sport], v)) {
      ++counts.bad_rows;
      continue;
    }
    r.src_port = static_cast<std::uint16_t>(v);
    r.dst_port = number(f[dport], v) ? static_cast<std::uint16_t>(v) : 0;
    r.protocol = protocol_number(f[proto]);
    auto field = [&](const char* name, double& out) {
      const int i = cols.at(name);
      return i >= 0 && number(f[i], out);
    };
    double fwd_packets = NAN, bwd_packets = NAN, fwd_bytes = NAN, bwd_bytes = NAN, duration = NAN;
    if (zeek) {
      double ts = 0;
      field("ts", ts);
      r.start_s = ts;
      field("duration", duration);
      field("orig_pkts", fwd_packets);
      field("resp_pkts", bwd_packets);
      field("orig_ip_bytes", fwd_bytes);
      field("resp_ip_bytes", bwd_bytes);
    } else {
      double start_ms = 0, end_ms = 0, duration_ms = NAN;
      field("FLOW_START_MILLISECONDS", start_ms);
      r.start_s = start_ms / 1000.0;
      if (field("FLOW_DURATION_MILLISECONDS", duration_ms)) duration = duration_ms / 1000.0;
      if (field("FLOW_END_MILLISECONDS", end_ms) && start_ms > 0) duration = (end_ms - start_ms) / 1000.0;
      field("IN_PKTS", fwd_packets);
      field("OUT_PKTS", bwd_packets);
      field("IN_BYTES", fwd_bytes);
      field("OUT_BYTES", bwd_bytes);
      double min_len = NAN, max_len = NAN;
      if (field("MIN_IP_PKT_LEN", min_len)) r.stats[3] = static_cast<float>(min_len);
      if (field("MAX_IP_PKT_LEN", max_len)) r.stats[4] = static_cast<float>(max_len);
    }
    r.end_s = r.start_s + (std::isnan(duration) ? 0.0 : duration);
    r.stats[0] = static_cast<float>(duration);
    r.stats[1] = static_cast<float>(fwd_packets + bwd_packets);
    r.stats[2] = static_cast<float>(fwd_bytes + bwd_bytes);
    r.stats[11] = static_cast<float>(fwd_packets);
    r.stats[12] = static_cast<float>(fwd_bytes);
    r.stats[21] = static_cast<float>(bwd_packets);
    r.stats[22] = static_cast<float>(bwd_bytes);
    sink(r, label >= 0 ? f[label] : std::string());
  }
  return counts;
}

std::vector<std::string> flow_log_label_values(const std::string& path, FlowLogFormat format,
                                               const std::string& label_column) {
  std::set<std::string> values;
  read_flow_log(path, format, label_column, [&](const FlowRecord&, const std::string& label) {
    if (!label.empty()) values.insert(label);
  });
  return {values.begin(), values.end()};
}

}  // namespace trafficfm::datasets
