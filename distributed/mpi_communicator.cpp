// The MPI backend: CPU tensors, one worker thread per communicator that runs the collectives
// in submission order with blocking MPI calls. OpenMPI makes progress on non-blocking
// collectives only inside MPI calls, so a dedicated thread is what actually overlaps
// communication with the autograd work of the calling thread.
#include <mpi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "distributed/communicator.h"

namespace trafficfm::distributed {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kInt: return MPI_INT;
    case torch::kLong: return MPI_INT64_T;
    case torch::kByte: return MPI_UINT8_T;
    case torch::kChar: return MPI_INT8_T;
    default:
      throw std::invalid_argument(std::string("MPI backend: dtype ") + std::string(c10::toString(t.scalar_type())) +
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
    throw std::runtime_error(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
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
      throw std::runtime_error("MPI backend needs MPI_THREAD_MULTIPLE (the collectives run on their own thread)");
    }
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // Errors come back as return codes, reported with the call that failed.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
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
    const MPI_Datatype type = mpi_type(t);
    return submit([=]() mutable {
      check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), type, mpi_op(op), comm_),
            "MPI_Allreduce");
      if (op == ReduceOp::kAvg) t.div_(size_);
    });
  }

  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output, ReduceOp op) override {
    check_cpu(input, "reduce_scatter input");
    check_cpu(output, "reduce_scatter output");
    if (input.numel() != output.numel() * size_ || input.scalar_type() != output.scalar_type()) {
      throw std::invalid_argument("reduce_scatter: input must hold size() outputs of the same dtype");
    }
    const MPI_Datatype type = mpi_type(input);
    return submit([=]() mutable {
      check(MPI_Reduce_scatter_block(input.data_ptr(), output.data_ptr(), static_cast<int>(output.numel()), type,
                                     mpi_op(op), comm_),
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
