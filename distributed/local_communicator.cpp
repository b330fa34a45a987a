// The communicator of a process that runs alone (no mpirun, no srun): every collective over one
// rank is the identity, so a single-process run needs no MPI at all, and works on any device.
#include <stdexcept>
#include <string>

#include "distributed/communicator.h"

namespace trafficfm::distributed {
namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
};

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "local"; }
  std::shared_ptr<Work> all_reduce_async(torch::Tensor, ReduceOp) override {
    return std::make_shared<DoneWork>();
  }
  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output, ReduceOp) override {
    if (input.numel() != output.numel())
      throw std::invalid_argument("reduce_scatter: sizes differ on one rank");
    torch::NoGradGuard no_grad;
    output.view(-1).copy_(input.reshape(-1));
    return std::make_shared<DoneWork>();
  }
  std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor output) override {
    if (input.numel() != output.numel()) throw std::invalid_argument("all_gather: sizes differ on one rank");
    torch::NoGradGuard no_grad;
    output.view(-1).copy_(input.reshape(-1));
    return std::make_shared<DoneWork>();
  }
  std::shared_ptr<Work> broadcast_async(torch::Tensor, int) override { return std::make_shared<DoneWork>(); }
  void barrier() override {}
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<LocalCommunicator>(); }
};

class ShapeOnlyCommunicator : public Communicator {
 public:
  explicit ShapeOnlyCommunicator(int size) : size_(size) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  const char* backend() const override { return "shape-only"; }
  std::shared_ptr<Work> all_reduce_async(torch::Tensor, ReduceOp) override { refuse("all_reduce"); }
  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor, torch::Tensor, ReduceOp) override {
    refuse("reduce_scatter");
  }
  std::shared_ptr<Work> all_gather_async(torch::Tensor, torch::Tensor) override { refuse("all_gather"); }
  std::shared_ptr<Work> broadcast_async(torch::Tensor, int) override { refuse("broadcast"); }
  void barrier() override { refuse("barrier"); }
  std::unique_ptr<Communicator> split(int, int) override { refuse("split"); }

 private:
  [[noreturn]] static void refuse(const char* what) {
    throw std::logic_error(std::string(what) + " on a shape-only communicator (no other rank exists)");
  }
  int size_;
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator() { return std::make_unique<LocalCommunicator>(); }

std::unique_ptr<Communicator> make_shape_only_communicator(int size) {
  if (size < 1) throw std::invalid_argument("a communicator has at least one rank");
  return std::make_unique<ShapeOnlyCommunicator>(size);
}

}  // namespace trafficfm::distributed
