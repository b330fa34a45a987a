// A capture's packets, read and decoded: on a thread of its own, a few batches ahead of the flow
// table (prep --threads >= 2), so that reading overlaps the flows and the encoders, or on the
// caller's thread one packet at a time (no copy). Batches come in capture order either way, so
// everything downstream, and the corpus, is the same.
#pragma once
#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/capture/capture_reader.h"
#include "datasets/capture/packet_view.h"

namespace trafficfm::datasets {

struct PacketBatch {
  // The decoded packets' captured bytes from the IP header on; empty when the reader's data is
  // stable (CaptureReader::stable_data: the views point into the mapped capture instead).
  std::vector<std::uint8_t> bytes;
  std::vector<PacketView> views;  // the packets that decoded (ip points into bytes)
  std::uint64_t packets = 0;      // read, decoded or not
  std::uint64_t wire_bytes = 0;
  std::array<std::uint64_t, static_cast<int>(DecodeStatus::kCount)> decode{};  // packets by status
};

class PacketBatches {
 public:
  // Reads `reader` (of `link_type`), which must outlive this object; with `own_thread`, batches
  // of `batch_packets`, at most `depth` ahead.
  PacketBatches(CaptureReader& reader, int link_type, bool own_thread, std::size_t batch_packets = 4096,
                std::size_t depth = 4);
  ~PacketBatches();  // stops the reading thread and joins it
  PacketBatches(const PacketBatches&) = delete;
  PacketBatches& operator=(const PacketBatches&) = delete;

  // The next batch, or nullptr after the last; valid until the next call. Throws what reading
  // threw, after the packets read before it.
  const PacketBatch* next();

 private:
  bool fill(PacketBatch& batch);  // false at the end of the capture
  void read();                    // the reading thread
  CaptureReader& reader_;
  const int link_type_;
  const bool own_thread_;
  const bool copy_bytes_;  // own_thread_ and the reader reuses its buffer: batches keep copies
  const std::size_t batch_packets_, depth_;
  std::vector<std::size_t> at_;  // where each view's bytes start in the batch being filled
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<PacketBatch>> full_;   // read, in capture order
  std::vector<std::unique_ptr<PacketBatch>> free_;  // consumed, for reuse
  std::unique_ptr<PacketBatch> current_;            // the one next() last returned
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // own_thread: started last, it uses the members above
};

}  // namespace trafficfm::datasets
