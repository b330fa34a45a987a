#include "core/task_pool.h"

#include <sched.h>

#include <algorithm>

namespace trafficfm::core {

TaskPool::TaskPool(int workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  std::unique_lock<std::mutex> lock(mutex_);
  while (run_one(lock)) {
  }
}

void TaskPool::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void TaskPool::wake() {
  { std::lock_guard<std::mutex> lock(mutex_); }
  wake_.notify_all();
}

// Pops and runs one task outside the lock; false when the queue was empty.
bool TaskPool::run_one(std::unique_lock<std::mutex>& lock) {
  if (queue_.empty()) return false;
  std::function<void()> task = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  std::exception_ptr error;
  try {
    task();
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  if (error && !error_) error_ = error;
  // Someone in help_until may be waiting for what this task did.
  wake_.notify_all();
  return true;
}

void TaskPool::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (run_one(lock)) continue;
    if (stopping_) return;
    wake_.wait(lock);
  }
}

void TaskPool::help_until(const std::function<bool()>& done) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (error_) std::rethrow_exception(error_);
    if (done()) return;
    if (run_one(lock)) continue;
    wake_.wait(lock);
  }
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace trafficfm::core
