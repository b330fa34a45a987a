// Collectives on tensors, the only interface the reducer, the tensor-parallel layers and the
// ZeRO optimizer see, so MPI (CPU tensors) and NCCL (CUDA tensors) are interchangeable under
// them. Every call is issued in the same order on every rank of the communicator. The *_async
// forms return a Work to wait on; the tensors must stay alive and untouched until then.
#pragma once
#include <torch/types.h>

#include <memory>

namespace trafficfm::distributed {

enum class ReduceOp { kSum, kAvg, kMax };

class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;  // rethrows a failure of the operation
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "mpi", "nccl" or "local"

  virtual std::shared_ptr<Work> all_reduce_async(torch::Tensor tensor, ReduceOp op) = 0;
  // input: size() equal chunks along dim 0; output: this rank's reduced chunk.
  virtual std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                                     ReduceOp op) = 0;
  // output: size() chunks along dim 0, chunk r = rank r's input.
  virtual std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor output) = 0;
  virtual std::shared_ptr<Work> broadcast_async(torch::Tensor tensor, int root) = 0;
  virtual void barrier() = 0;
  // A communicator over the ranks that pass the same `color`, ordered by `key`.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
  // A flat buffer for this communicator's collectives. The MPI backend, when every rank is on
  // one node, places float buffers in memory the node's ranks share, where all-reduce and
  // reduce-scatter on the whole buffer run faster (node_shared_memory.h). Collective: every
  // rank calls it in the same order with the same size and options.
  virtual torch::Tensor allocate_buffer(std::int64_t numel, const torch::TensorOptions& options) {
    return at::empty({numel}, options);
  }

  void all_reduce(torch::Tensor tensor, ReduceOp op) { all_reduce_async(tensor, op)->wait(); }
  void reduce_scatter(torch::Tensor input, torch::Tensor output, ReduceOp op) {
    reduce_scatter_async(input, output, op)->wait();
  }
  void all_gather(torch::Tensor input, torch::Tensor output) { all_gather_async(input, output)->wait(); }
  void broadcast(torch::Tensor tensor, int root) { broadcast_async(tensor, root)->wait(); }
};

// MPI_COMM_WORLD as a CPU-tensor communicator (MPI must be initialized with
// MPI_THREAD_MULTIPLE: collectives run on the communicator's own thread).
std::unique_ptr<Communicator> make_mpi_world_communicator();

// A process alone (world size 1): every collective is the identity; no MPI needed.
std::unique_ptr<Communicator> make_local_communicator();

// Rank 0 of `size` ranks that do not exist: it has a size for layers to split shapes by, and
// every collective (and split) throws std::logic_error. For building rank 0's shards of a model
// without running it (ProcessGrid::shape_only).
std::unique_ptr<Communicator> make_shape_only_communicator(int size);

#ifdef TRAFFICFM_HAVE_NCCL
// NCCL over the ranks of `bootstrap` (whose rank 0 creates the ncclUniqueId and broadcasts it),
// on CUDA device `device` (made the calling thread's current device), with its own stream
// ordered against the compute stream by events. `bootstrap` must outlive it.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device);
#endif

}  // namespace trafficfm::distributed
