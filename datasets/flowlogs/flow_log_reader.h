// Flow records from flow logs, for the `flows` encoder:
//  - Zeek conn.log (ASCII TSV with a `#fields` header; `-` unset, `(empty)` empty). Labeled
//    logs (Stratosphere's `label` / `detailedlabel` columns) carry their labels.
//  - NetFlow-v2-style CSV (NF-*-v2 column names: IPV4_SRC_ADDR, L4_SRC_PORT, IPV4_DST_ADDR,
//    L4_DST_PORT, PROTOCOL, IN_BYTES, IN_PKTS, OUT_BYTES, OUT_PKTS, FLOW_DURATION_MILLISECONDS,
//    optional FLOW_START_MILLISECONDS / FLOW_END_MILLISECONDS, MIN/MAX_IP_PKT_LEN, TCP_FLAGS,
//    Label, Attack).
#pragma once
#include <functional>
#include <string>

#include "datasets/encoders/flows_encoder.h"

namespace trafficfm::datasets {

enum class FlowLogFormat { kNone, kZeekConn, kNetflowCsv };

// Looks at the first line of a file; kNone for captures and anything else.
FlowLogFormat detect_flow_log(const std::string& path);

struct FlowLogCounts {
  std::uint64_t rows = 0;
  std::uint64_t bad_rows = 0;  // wrong field count, unparsable address or number
};

// Calls `sink(record, label_text)` per row; label_text is the value of `label_column`
// ("" when the log has no such column). Throws std::runtime_error naming the file when the
// header is unusable.
FlowLogCounts read_flow_log(const std::string& path, FlowLogFormat format, const std::string& label_column,
                            const std::function<void(const FlowRecord&, const std::string&)>& sink);

// The label column's distinct values over a whole log (for a corpus-wide label list).
std::vector<std::string> flow_log_label_values(const std::string& path, FlowLogFormat format,
                                               const std::string& label_column);

// The label column used when none is given: "label" (Zeek) / "Attack" (NetFlow, else "Label").
std::string default_flow_log_label_column(FlowLogFormat format);

}  // namespace trafficfm::datasets
