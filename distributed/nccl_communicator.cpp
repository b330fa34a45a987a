// The NCCL backend: CUDA tensors. The ncclUniqueId travels over the bootstrap (MPI)
// communicator; collectives run on the communicator's own CUDA stream, which first waits on
// an event recorded on the compute stream (so inputs are ready), and Work::wait() makes the
// compute stream wait on the completion event (so outputs are ready) without blocking the
// host. The compute stream is the legacy default stream (LibTorch's default unless a stream
// guard says otherwise).
#include <cuda_runtime.h>
#include <nccl.h>

#include <stdexcept>
#include <string>

#include "distributed/communicator.h"

namespace trafficfm::distributed {
namespace {

void cuda_check(cudaError_t rc, const char* call) {
  if (rc != cudaSuccess) throw std::runtime_error(std::string(call) + ": " + cudaGetErrorString(rc));
}
void nccl_check(ncclResult_t rc, const char* call) {
  if (rc != ncclSuccess) throw std::runtime_error(std::string(call) + ": " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kHalf:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt:
      return ncclInt32;
    case torch::kLong:
      return ncclInt64;
    case torch::kByte:
      return ncclUint8;
    case torch::kChar:
      return ncclInt8;
    default:
      throw std::invalid_argument("NCCL backend: unsupported dtype");
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
  }
  return ncclSum;
}

void check_cuda_tensor(const torch::Tensor& t, const char* what, int device) {
  if (!t.device().is_cuda() || !t.is_contiguous()) {
    throw std::invalid_argument(std::string("NCCL backend: ") + what + " must be a contiguous CUDA tensor");
  }
  if (t.device().index() != device) {
    throw std::invalid_argument(std::string("NCCL backend: ") + what + " is on " + t.device().str() +
                                ", the communicator on cuda:" + std::to_string(device));
  }
}

class NcclWork : public Work {
 public:
  explicit NcclWork(cudaEvent_t done) : done_(done) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait() override { cuda_check(cudaStreamWaitEvent(nullptr, done_, 0), "cudaStreamWaitEvent"); }

 private:
  cudaEvent_t done_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(Communicator& bootstrap, int device) : bootstrap_(bootstrap), device_(device) {
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    rank_ = bootstrap.rank();
    size_ = bootstrap.size();
    ncclUniqueId id;
    if (rank_ == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    auto bytes = torch::from_blob(&id, {static_cast<std::int64_t>(sizeof id)}, torch::kByte);
    bootstrap.broadcast(bytes, 0);
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    const ncclResult_t init = ncclCommInitRank(&comm_, size_, id, rank_);
    if (init == ncclInvalidUsage) {
      // The usual cause: several ranks of one host on one GPU, which NCCL refuses.
      throw std::runtime_error(
          "ncclCommInitRank on cuda:" + std::to_string(device_) + ": " + ncclGetErrorString(init) +
          " (two ranks of this host on one GPU? Give each rank its own GPU, or, to share one "
          "for a test, a distinct NCCL_HOSTID per rank: docs/distributed.md)");
    }
    nccl_check(init, "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

  std::shared_ptr<Work> all_reduce_async(torch::Tensor t, ReduceOp op) override {
    check_cuda_tensor(t, "all_reduce tensor", device_);
    return launch([&] {
      nccl_check(
          ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), nccl_op(op), comm_, stream_),
          "ncclAllReduce");
    });
  }
  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                             ReduceOp op) override {
    check_cuda_tensor(input, "reduce_scatter input", device_);
    check_cuda_tensor(output, "reduce_scatter output", device_);
    return launch([&] {
      nccl_check(ncclReduceScatter(input.data_ptr(), output.data_ptr(), output.numel(), nccl_type(input),
                                   nccl_op(op), comm_, stream_),
                 "ncclReduceScatter");
    });
  }
  std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor output) override {
    check_cuda_tensor(input, "all_gather input", device_);
    check_cuda_tensor(output, "all_gather output", device_);
    return launch([&] {
      nccl_check(
          ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(), nccl_type(input), comm_, stream_),
          "ncclAllGather");
    });
  }
  std::shared_ptr<Work> broadcast_async(torch::Tensor t, int root) override {
    check_cuda_tensor(t, "broadcast tensor", device_);
    return launch([&] {
      nccl_check(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), root, comm_, stream_),
                 "ncclBroadcast");
    });
  }
  void barrier() override {
    bootstrap_.barrier();
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    // The compute stream too: a barrier means this rank's earlier work is done.
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    // The sub-communicator's ids travel over a matching split of the bootstrap communicator.
    owned_bootstraps_.push_back(bootstrap_.split(color, key));
    return std::make_unique<NcclCommunicator>(*owned_bootstraps_.back(), device_);
  }

 private:
  template <typename Op>
  std::shared_ptr<Work> launch(Op&& op) {
    cudaEvent_t ready, done;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");  // a no-op on autograd's thread for this device
    cuda_check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(ready, nullptr), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);
    op();
    cuda_check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(done, stream_), "cudaEventRecord");
    return std::make_shared<NcclWork>(done);
  }

  Communicator& bootstrap_;
  int device_ = 0;
  std::vector<std::unique_ptr<Communicator>> owned_bootstraps_;
  int rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& bootstrap, int device) {
  return std::make_unique<NcclCommunicator>(bootstrap, device);
}

}  // namespace trafficfm::distributed
