// The flows a flow table emits, run through `sink` (encode, de-duplicate, buffer for a shard):
// in batches on a thread of its own, a bounded number behind the table (prep --threads >= 2),
// so that the table and the encoders share out a capture's work; or inline on the caller's
// thread. Flows reach the sink in the order they were pushed either way, so the corpus is the
// same.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "datasets/flow/flow.h"

namespace trafficfm::datasets {

class FlowStage {
 public:
  using Sink = std::function<void(Flow&&)>;
  // With `own_thread`, flows go over in batches of `batch_flows`, at most `depth` batches waiting.
  FlowStage(Sink sink, bool own_thread, std::size_t batch_flows = 256, std::size_t depth = 8);
  ~FlowStage();  // drains what was pushed (errors are dropped: call drain() to see them)
  FlowStage(const FlowStage&) = delete;
  FlowStage& operator=(const FlowStage&) = delete;

  void push(Flow&& flow);
  // Returns once every flow pushed so far went through the sink; rethrows the first error the
  // sink threw (flows after it are not run).
  void drain();

 private:
  void hand_over();  // the batch being filled goes to the queue
  void run();        // the sink's thread
  Sink sink_;
  const bool own_thread_;
  const std::size_t batch_flows_, depth_;
  std::vector<Flow> filling_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<Flow>> queue_;
  std::size_t running_ = 0;  // batches taken off the queue and not finished
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // started last, it uses the members above
};

}  // namespace trafficfm::datasets
