// A capture's packets read and decoded on a thread of its own, a few batches ahead of the flow
// table (prep --threads >= 2), so that reading overlaps the flows and the encoders. Batches
// come in capture order, so everything downstream, and the corpus, is what reading inline gives.
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
  std::vector<std::uint8_t> bytes;  // the decoded packets' captured bytes from the IP header on
  std::vector<PacketView> views;    // the packets that decoded (ip points into bytes)
  std::uint64_t packets = 0;        // read, decoded or not
  std::uint64_t wire_bytes = 0;
  std::array<std::uint64_t, static_cast<int>(DecodeStatus::kCount)> decode{};  // packets by status
};

class PacketBatches {
 public:
  // Starts reading `reader` (of `link_type`), which must outlive this object.
  PacketBatches(CaptureReader& reader, int link_type, std::size_t batch_packets = 4096,
                std::size_t depth = 4);
  ~PacketBatches();  // stops the reader and joins it
  PacketBatches(const PacketBatches&) = delete;
  PacketBatches& operator=(const PacketBatches&) = delete;

  // The next batch, or nullptr after the last; valid until the next call. Rethrows what the
  // reading thread threw.
  const PacketBatch* next();

 private:
  void read();
  CaptureReader& reader_;
  const int link_type_;
  const std::size_t batch_packets_, depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<PacketBatch>> full_;   // read, in capture order
  std::vector<std::unique_ptr<PacketBatch>> free_;  // consumed, for reuse
  std::unique_ptr<PacketBatch> current_;            // the one next() last returned
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: it uses the members above
};

}  // namespace trafficfm::datasets
