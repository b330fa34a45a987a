#include "datasets/prep/packet_batches.h"

#include <algorithm>

namespace trafficfm::datasets {

PacketBatches::PacketBatches(CaptureReader& reader, int link_type, std::size_t batch_packets,
                             std::size_t depth)
    : reader_(reader),
      link_type_(link_type),
      batch_packets_(std::max<std::size_t>(1, batch_packets)),
      depth_(std::max<std::size_t>(1, depth)),
      thread_([this] { read(); }) {}

PacketBatches::~PacketBatches() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void PacketBatches::read() {
  std::vector<std::size_t> at;  // where each view's bytes start: `bytes` may move while it grows
  for (bool more = true; more;) {
    std::unique_ptr<PacketBatch> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || full_.size() < depth_; });
      if (stop_) return;
      if (!free_.empty()) {
        batch = std::move(free_.back());
        free_.pop_back();
      }
    }
    // What was read before an error still goes downstream, as it does when reading inline.
    std::exception_ptr error;
    try {
      if (!batch) batch = std::make_unique<PacketBatch>();
      batch->bytes.clear();
      batch->views.clear();
      batch->packets = batch->wire_bytes = 0;
      batch->decode.fill(0);
      at.clear();
      RawPacket raw;
      PacketView view;
      while (batch->packets < batch_packets_ && (more = reader_.next(raw))) {
        ++batch->packets;
        batch->wire_bytes += raw.wire_length;
        const DecodeStatus status = decode_packet(link_type_, raw.data, raw.caplen, raw.wire_length, view);
        ++batch->decode[static_cast<int>(status)];
        if (status != DecodeStatus::kOk) continue;
        view.timestamp_ns = raw.timestamp_ns;
        at.push_back(batch->bytes.size());
        batch->bytes.insert(batch->bytes.end(), view.ip, view.ip + view.ip_captured);
        batch->views.push_back(view);
      }
    } catch (...) {
      error = std::current_exception();
      more = false;
    }
    if (batch) {
      for (std::size_t i = 0; i < batch->views.size(); ++i) batch->views[i].ip = batch->bytes.data() + at[i];
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (batch && batch->packets > 0) full_.push_back(std::move(batch));
      done_ = !more;
      error_ = error;
    }
    changed_.notify_all();
  }
}

const PacketBatch* PacketBatches::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (current_) free_.push_back(std::move(current_));
  changed_.notify_all();
  changed_.wait(lock, [&] { return !full_.empty() || done_; });
  if (full_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return nullptr;
  }
  current_ = std::move(full_.front());
  full_.pop_front();
  return current_.get();
}

}  // namespace trafficfm::datasets
