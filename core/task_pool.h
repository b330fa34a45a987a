// A fixed set of worker threads taking tasks from one FIFO queue, for work that can run beside
// the thread producing it (prep compresses and writes shards while it keeps reading packets).
// The producer can lend its own thread while it waits (help_until), so waiting never idles a
// core. A task that throws stores the first exception; help_until() rethrows it.
#pragma once
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace trafficfm::core {

class TaskPool {
 public:
  explicit TaskPool(int workers);  // 0 workers: tasks run only inside help_until()
  ~TaskPool();                     // runs every queued task, then joins
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void submit(std::function<void()> task);
  // Runs queued tasks on the calling thread until `done()` holds; while the queue is empty it
  // sleeps until a task finishes or wake() is called. `done` is called under the pool's lock.
  void help_until(const std::function<bool()>& done);
  // Wakes threads waiting in help_until to check their condition again (call after changing
  // what `done` reads, under no lock of your own that `done` takes).
  void wake();
  int workers() const { return static_cast<int>(threads_.size()); }

 private:
  bool run_one(std::unique_lock<std::mutex>& lock);
  void worker();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Threads this process may run on (its CPU affinity), at least 1.
int available_cores();

}  // namespace trafficfm::core
