#include "datasets/prep/flow_stage.h"

#include <algorithm>

namespace trafficfm::datasets {

FlowStage::FlowStage(Sink sink, bool own_thread, std::size_t batch_flows, std::size_t depth)
    : sink_(std::move(sink)),
      own_thread_(own_thread),
      batch_flows_(std::max<std::size_t>(1, batch_flows)),
      depth_(std::max<std::size_t>(1, depth)) {
  if (own_thread_) thread_ = std::thread([this] { run(); });
}

FlowStage::~FlowStage() {
  if (!own_thread_) return;
  try {
    drain();
  } catch (...) {  // the caller is unwinding from an error of its own, or did not ask
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void FlowStage::push(Flow&& flow) {
  if (!own_thread_) {
    sink_(std::move(flow));
    return;
  }
  if (filling_.empty()) filling_.reserve(batch_flows_);
  filling_.push_back(std::move(flow));
  if (filling_.size() >= batch_flows_) hand_over();
}

void FlowStage::hand_over() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < depth_ || error_; });
  if (error_) {  // the sink stopped: what follows it is dropped, drain() reports why
    filling_.clear();
    return;
  }
  queue_.push_back(std::move(filling_));
  filling_ = {};
  lock.unlock();
  changed_.notify_all();
}

void FlowStage::drain() {
  if (!own_thread_) return;
  if (!filling_.empty()) hand_over();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return (queue_.empty() && running_ == 0) || error_; });
  if (error_) {
    std::exception_ptr error = error_;
    error_ = nullptr;
    queue_.clear();
    lock.unlock();
    changed_.notify_all();
    std::rethrow_exception(error);
  }
}

void FlowStage::run() {
  for (;;) {
    std::vector<Flow> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_, and nothing left
      batch = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    changed_.notify_all();  // room in the queue
    std::exception_ptr error;
    try {
      for (Flow& flow : batch) sink_(std::move(flow));
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
      if (error && !error_) error_ = error;
      if (error_) queue_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace trafficfm::datasets
