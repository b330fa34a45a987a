// Streams packets into flows with bounded memory: a flow leaves the table (and goes to the
// encoder) when it has been idle longer than the idle timeout, has lasted longer than the
// active timeout, or its TCP connection has closed (RST, or FIN both ways). Idle flows are
// found through a least-recently-seen list, so memory holds only the flows still alive.
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "datasets/flow/flow.h"

namespace trafficfm::datasets {

struct FlowTableOptions {
  double idle_timeout_s = 120.0;     // NFStream's default
  double active_timeout_s = 1800.0;  // NFStream's default
  // After FIN both ways (or RST) a flow lingers this long for the last ACKs before leaving.
  double closed_linger_s = 2.0;
  std::size_t keep_packets = 5;   // first packets kept per flow for the encoders
  std::size_t keep_bytes = 1600;  // captured bytes kept per packet
};

class FlowTable {
 public:
  using Sink = std::function<void(Flow&&)>;
  FlowTable(const FlowTableOptions& options, Sink sink);

  // `file` and `link_type` label the flows this packet starts.
  void add(const PacketView& packet, const std::string& file, int link_type);
  // Emits every flow still in the table (end of a capture file).
  void flush();
  std::size_t live_flows() const { return flows_.size(); }
  std::uint64_t emitted() const { return emitted_; }

 private:
  struct Entry {
    Flow flow;
    std::list<FlowKey>::iterator lru;
  };
  void expire_idle(std::int64_t now_ns);
  void emit(std::unordered_map<FlowKey, Entry, FlowKeyHasher>::iterator it, Flow::End end);

  FlowTableOptions options_;
  Sink sink_;
  std::unordered_map<FlowKey, Entry, FlowKeyHasher> flows_;
  std::list<FlowKey> lru_;                   // front = least recently seen
  std::shared_ptr<const std::string> file_;  // of the flows being started
  std::int64_t last_sweep_ns_ = 0;
  std::uint64_t emitted_ = 0;
};

}  // namespace trafficfm::datasets
