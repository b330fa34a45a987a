// `flows`: one record per flow for the graph model: times, pseudonymized endpoints, ports,
// protocol and NFStream-style statistics. Flow logs (Zeek conn.log, NetFlow CSV) produce the
// same record with the statistics they carry (the rest NaN).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "datasets/capture/packet_view.h"
#include "datasets/corpus/columns.h"

namespace trafficfm::datasets {

constexpr int kFlowStatistics = 39;
extern const std::array<const char*, kFlowStatistics> kFlowStatisticNames;

// One flow record, whatever its source.
struct FlowRecord {
  double start_s = 0, end_s = 0;
  IpAddress src, dst;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t protocol = 0;
  std::array<float, kFlowStatistics> stats;  // NaN where the source does not say
  FlowRecord() { stats.fill(__builtin_nanf("")); }
};

// Keyed host pseudonym: the first 8 bytes of SHA-256(key || family || address). Consistent
// within a corpus (one key), unlinkable across corpora with different keys.
std::uint64_t host_pseudonym(const std::string& key, const IpAddress& address);

struct Flow;
// The record of a flow built from packets.
FlowRecord flow_record_of(const Flow& flow);

std::vector<ColumnSpec> flow_record_schema();
void append_flow_record(const FlowRecord& record, const std::string& pseudonym_key, ColumnBuffer& out);

}  // namespace trafficfm::datasets
