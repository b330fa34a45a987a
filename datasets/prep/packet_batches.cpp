#include "datasets/prep/packet_batches.h"

#include <algorithm>

namespace trafficfm::datasets {

PacketBatches::PacketBatches(CaptureReader& reader, int link_type, bool own_thread, std::size_t batch_packets,
                             std::size_t depth)
    : reader_(reader),
      link_type_(link_type),
      own_thread_(own_thread),
      copy_bytes_(own_thread && !reader.stable_data()),
      batch_packets_(own_thread ? std::max<std::size_t>(1, batch_packets) : 1),
      depth_(std::max<std::size_t>(1, depth)) {
  if (own_thread_) thread_ = std::thread([this] { read(); });
}

PacketBatches::~PacketBatches() {
  if (!own_thread_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool PacketBatches::fill(PacketBatch& batch) {
  batch.bytes.clear();
  batch.views.clear();
  batch.packets = batch.wire_bytes = 0;
  batch.decode.fill(0);
  at_.clear();
  RawPacket raw;
  PacketView view;
  bool more = true;
  while (batch.packets < batch_packets_ && (more = reader_.next(raw))) {
    ++batch.packets;
    batch.wire_bytes += raw.wire_length;
    const DecodeStatus status = decode_packet(link_type_, raw.data, raw.caplen, raw.wire_length, view);
    ++batch.decode[static_cast<int>(status)];
    if (status != DecodeStatus::kOk) continue;
    view.timestamp_ns = raw.timestamp_ns;
    if (copy_bytes_) {
      at_.push_back(batch.bytes.size());
      batch.bytes.insert(batch.bytes.end(), view.ip, view.ip + view.ip_captured);
    }
    batch.views.push_back(view);
  }
  // `bytes` may have moved while it grew: the views point into it only now.
  for (std::size_t i = 0; i < at_.size() && i < batch.views.size(); ++i) {
    batch.views[i].ip = batch.bytes.data() + at_[i];
  }
  return more;
}

void PacketBatches::read() {
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
      more = fill(*batch);
    } catch (...) {
      error = std::current_exception();
      more = false;
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
  if (!own_thread_) {  // one packet at a time, its view into the reader's buffer
    if (done_) return nullptr;
    if (!current_) current_ = std::make_unique<PacketBatch>();
    done_ = !fill(*current_);
    return current_->packets > 0 ? current_.get() : nullptr;
  }
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
