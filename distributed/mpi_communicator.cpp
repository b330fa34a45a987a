// The MPI backend: CPU tensors, one worker thread per communicator that runs the collectives
// in submission order with blocking MPI calls. OpenMPI makes progress on non-blocking
// collectives only inside MPI calls, so a dedicated thread is what actually overlaps
// communication with the autograd work of the calling thread.
// When all ranks share a node, buffers from allocate_buffer() live in node shared memory and
// their all-reduce and reduce-scatter run on it directly (node_shared_memory.h).
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "distributed/communicator.h"
#include "distributed/node_shared_memory.h"

namespace trafficfm::distributed {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kInt:
      return MPI_INT;
    case torch::kLong:
      return MPI_INT64_T;
    case torch::kByte:
      return MPI_UINT8_T;
    case torch::kChar:
      return MPI_INT8_T;
    default:
      throw std::invalid_argument(std::string("MPI backend: dtype ") +
                                  std::string(c10::toString(t.scalar_type())) +
                                  " is not supported (CPU collectives run in float32/float64/int)");
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kMax ? MPI_MAX : MPI_SUM; }

void check_cpu(const torch::Tensor& t, const char* what) {
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    throw std::invalid_argument(std::string("MPI backend: ") + what + " must be a contiguous CPU tensor");
  }
}

void check(int rc, const char* call) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw std::runtime_error(std::string(call) +
                             " failed: " + std::string(text, static_cast<std::size_t>(length)));
  }
}

class MpiWork : public Work {
 public:
  explicit MpiWork(std::shared_future<void> done) : done_(std::move(done)) {}
  void wait() override { done_.get(); }

 private:
  std::shared_future<void> done_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
    int provided = 0;
    MPI_Query_thread(&provided);
    if (provided < MPI_THREAD_MULTIPLE) {
      throw std::runtime_error(
          "MPI backend needs MPI_THREAD_MULTIPLE (the collectives run on their own thread)");
    }
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // Errors come back as return codes, reported with the call that failed.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm node = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    int node_size = 0;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    one_node_ = size_ > 1 && node_size == size_ && std::getenv("TRAFFICFM_NO_SHARED_MEMORY") == nullptr;
    worker_ = std::thread([this] { run(); });
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    worker_.join();
    // A communicator held until process exit (a static) outlives MPI_Finalize: then the
    // runtime has already released it.
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }

  std::shared_ptr<Work> all_reduce_async(torch::Tensor t, ReduceOp op) override {
    check_cpu(t, "all_reduce tensor");
    if (op != ReduceOp::kMax) {
      if (auto shared = find_shared(t)) {
        return submit(
            [this, t, op, shared = *shared]() { shared_all_reduce(t, shared, op == ReduceOp::kAvg); });
      }
    }
    const MPI_Datatype type = mpi_type(t);
    return submit([=]() mutable {
      check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), type, mpi_op(op), comm_),
            "MPI_Allreduce");
      if (op == ReduceOp::kAvg) t.div_(size_);
    });
  }

  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                             ReduceOp op) override {
    check_cpu(input, "reduce_scatter input");
    check_cpu(output, "reduce_scatter output");
    if (input.numel() != output.numel() * size_ || input.scalar_type() != output.scalar_type()) {
      throw std::invalid_argument("reduce_scatter: input must hold size() outputs of the same dtype");
    }
    if (op != ReduceOp::kMax) {
      if (auto shared = find_shared(input)) {
        return submit([this, input, output, op, shared = *shared]() {
          shared_reduce_scatter(input, output, shared, op == ReduceOp::kAvg);
        });
      }
    }
    const MPI_Datatype type = mpi_type(input);
    return submit([=]() mutable {
      check(MPI_Reduce_scatter_block(input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()),
                                     type, mpi_op(op), comm_),
            "MPI_Reduce_scatter_block");
      if (op == ReduceOp::kAvg) output.div_(size_);
    });
  }

  std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor output) override {
    check_cpu(input, "all_gather input");
    check_cpu(output, "all_gather output");
    if (output.numel() != input.numel() * size_ || input.scalar_type() != output.scalar_type()) {
      throw std::invalid_argument("all_gather: output must hold size() inputs of the same dtype");
    }
    const MPI_Datatype type = mpi_type(input);
    return submit([=]() mutable {
      check(MPI_Allgather(input.data_ptr(), static_cast<int>(input.numel()), type, output.data_ptr(),
                          static_cast<int>(input.numel()), type, comm_),
            "MPI_Allgather");
    });
  }

  std::shared_ptr<Work> broadcast_async(torch::Tensor t, int root) override {
    check_cpu(t, "broadcast tensor");
    const MPI_Datatype type = mpi_type(t);
    return submit([=]() mutable {
      check(MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), type, root, comm_), "MPI_Bcast");
    });
  }

  void barrier() override {
    submit([this] { check(MPI_Barrier(comm_), "MPI_Barrier"); })->wait();
  }

  torch::Tensor allocate_buffer(std::int64_t numel, const torch::TensorOptions& options) override {
    if (!one_node_ || !options.device().is_cpu() ||
        !can_sum_parts(c10::typeMetaToScalarType(options.dtype())) || numel == 0) {
      return at::empty({numel}, options);
    }
    const std::size_t part_bytes = static_cast<std::size_t>(numel) * options.dtype().itemsize();
    std::shared_ptr<NodeSharedMapping> mapping;
    submit([&] {
      // The shared collectives' barrier, on its own page, made with the first buffer.
      if (!node_barrier_) {
        if (auto page = map_shared(NodeBarrier::kBytes, 1))
          node_barrier_ = std::make_unique<NodeBarrier>(std::move(page), size_);
      }
      if (node_barrier_) mapping = map_shared(part_bytes, size_);
    })->wait();
    if (!mapping) return at::empty({numel}, options);
    {
      std::lock_guard<std::mutex> lock(segments_mutex_);
      segments_.push_back(mapping);
    }
    // The tensor keeps the mapping alive; the communicator only looks it up.
    return torch::from_blob(
        mapping->part(rank_), {numel}, [mapping](void*) {}, options);
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm child = MPI_COMM_NULL;
    submit([&] { check(MPI_Comm_split(comm_, color, key, &child), "MPI_Comm_split"); })->wait();
    return std::make_unique<MpiCommunicator>(child, true);
  }

 private:
  std::shared_ptr<Work> submit(std::function<void()> op) {
    auto task = std::make_shared<std::packaged_task<void()>>(std::move(op));
    auto work = std::make_shared<MpiWork>(task->get_future().share());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back([task] { (*task)(); });
    }
    ready_.notify_one();
    return work;
  }

  struct SharedRegion {
    std::shared_ptr<NodeSharedMapping> mapping;
    std::size_t offset = 0;  // of the tensor's data within each rank's part
  };

  // The shared region holding all of `t`, if `t` is (a slice of) an allocate_buffer() buffer.
  std::optional<SharedRegion> find_shared(const torch::Tensor& t) {
    std::lock_guard<std::mutex> lock(segments_mutex_);
    if (segments_.empty()) return std::nullopt;
    const char* data = static_cast<const char*>(t.data_ptr());
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
    for (auto it = segments_.begin(); it != segments_.end();) {
      auto mapping = it->lock();
      if (!mapping) {  // every tensor on it is gone
        it = segments_.erase(it);
        continue;
      }
      const char* own = mapping->part(rank_);
      if (data >= own && data + bytes <= own + mapping->part_bytes()) {
        return SharedRegion{mapping, static_cast<std::size_t>(data - own)};
      }
      ++it;
    }
    return std::nullopt;
  }

  // Collective, on the worker thread: rank 0 creates the object, the others open it, and all
  // agree whether everyone succeeded (a full /dev/shm falls back to ordinary memory).
  std::shared_ptr<NodeSharedMapping> map_shared(std::size_t part_bytes, int parts) {
    char name[96] = {};
    std::shared_ptr<NodeSharedMapping> mapping;
    std::string problem;
    if (rank_ == 0) {
      std::snprintf(name, sizeof name, "/trafficfm-%ld-%p-%d", static_cast<long>(getpid()),
                    static_cast<void*>(this), next_segment_++);
      try {
        mapping = NodeSharedMapping::create(name, shared_part_bytes(part_bytes), parts);
      } catch (const std::exception& e) {
        problem = e.what();
        name[0] = '\0';
      }
    }
    check(MPI_Bcast(name, sizeof name, MPI_CHAR, 0, comm_), "MPI_Bcast");
    if (rank_ != 0 && name[0] != '\0') {
      try {
        mapping = NodeSharedMapping::open(name, shared_part_bytes(part_bytes), parts);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    int ok = mapping ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, comm_), "MPI_Allreduce");
    if (rank_ == 0 && name[0] != '\0')
      NodeSharedMapping::unlink(name);  // every rank has opened it (or failed)
    if (!ok) {
      if (!problem.empty()) core::log_warn("collective buffers in ordinary memory: ", problem);
      return nullptr;
    }
    return mapping;
  }

  // Each rank sums one slice over every rank's buffer and writes the sum into all of them, a
  // block at a time (the block stays in cache between the sum and the copies). Every element
  // is summed by one rank in rank order, so all ranks end bitwise equal.
  void shared_all_reduce(const torch::Tensor& t, const SharedRegion& region, bool average) {
    node_barrier_->wait();  // every rank's input is written
    const std::int64_t numel = t.numel(), slice = (numel + size_ - 1) / size_;
    const std::int64_t begin = std::min(numel, rank_ * slice), end = std::min(numel, begin + slice);
    const std::size_t element = t.element_size();
    std::vector<const char*> parts;
    for (int k = 0; k < size_; ++k) parts.push_back(region.mapping->part(k) + region.offset);
    constexpr std::int64_t kBlock = 8192;
    std::vector<char> sum(static_cast<std::size_t>(kBlock) * element);
    for (std::int64_t at = begin; at < end; at += kBlock) {
      const std::int64_t stop = std::min(end, at + kBlock);
      sum_parts(t.scalar_type(), parts, at, stop, average, sum.data());
      for (int k = 0; k < size_; ++k) {
        std::memcpy(region.mapping->part(k) + region.offset + at * element, sum.data(),
                    (stop - at) * element);
      }
    }
    node_barrier_->wait();  // every slice is written everywhere
  }

  void shared_reduce_scatter(const torch::Tensor& input, const torch::Tensor& output,
                             const SharedRegion& region, bool average) {
    node_barrier_->wait();
    std::vector<const char*> parts;
    for (int k = 0; k < size_; ++k) parts.push_back(region.mapping->part(k) + region.offset);
    const std::int64_t slice = output.numel();
    sum_parts(input.scalar_type(), parts, rank_ * slice, (rank_ + 1) * slice, average,
              static_cast<char*>(output.data_ptr()));
    node_barrier_->wait();  // no rank writes its input again while others read it
  }

  void run() {
    while (true) {
      std::function<void()> op;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to run
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      op();
    }
  }

  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0, size_ = 1;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  bool one_node_ = false;
  std::mutex segments_mutex_;
  std::vector<std::weak_ptr<NodeSharedMapping>> segments_;  // from allocate_buffer()
  std::unique_ptr<NodeBarrier> node_barrier_;               // made with the first of them
  int next_segment_ = 0;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_world_communicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  }
  MPI_Comm world = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &world);  // our own context: never collides with the caller's MPI use
  return std::make_unique<MpiCommunicator>(world, true);
}

}  // namespace trafficfm::distributed
