// Streams packets into flows with bounded memory: a flow leaves the table (and goes to the
// encoder) when it has been idle longer than the idle timeout, has lasted longer than the
// active timeout, or its TCP connection has closed (RST, or FIN both ways). Idle flows are
// found through a least-recently-seen list, so memory holds only the flows still alive.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  std::size_t live_flows() const { return live_; }
  std::uint64_t emitted() const { return emitted_; }

 private:
  static constexpr std::uint32_t kNone = 0xffffffffu;
  // The live flows in a slab, linked in least-recently-seen order, found through an
  // open-addressing index (linear probing) of their key hashes. std::unordered_map and
  // std::list cost two allocations a flow and a pointer chase a packet: a tenth of prep's time.
  struct Entry {
    Flow flow;
    std::uint64_t hash = 0;
    std::uint32_t older = kNone, newer = kNone;  // LRU neighbours
  };
  struct Slot {
    std::uint32_t entry = kNone;  // kNone: empty
    std::uint32_t tag = 0;        // the hash's high half, compared before the key
  };
  std::size_t find(const FlowKey& key, std::uint64_t hash) const;  // slot index, or npos
  std::uint32_t insert(const FlowKey& key, std::uint64_t hash);    // a fresh entry, newest
  void unlink(std::uint32_t e);
  void link_newest(std::uint32_t e);
  void erase_slot(std::size_t slot);
  void grow();
  void expire_idle(std::int64_t now_ns);
  void emit(std::size_t slot, Flow::End end);

  FlowTableOptions options_;
  Sink sink_;
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> free_entries_;
  std::vector<Slot> slots_;  // a power of two, at most half full
  std::size_t live_ = 0;
  std::uint32_t oldest_ = kNone, newest_ = kNone;
  std::shared_ptr<const std::string> file_;  // of the flows being started
  std::int64_t last_sweep_ns_ = 0;
  std::uint64_t emitted_ = 0;
};

}  // namespace trafficfm::datasets
