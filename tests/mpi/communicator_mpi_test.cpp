// The MPI tensor communicator against values computed by hand on every rank.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/routed_communicator.h"

namespace trafficfm::distributed {
namespace {

Communicator& world() {
  static auto comm = make_mpi_world_communicator();
  return *comm;
}

TEST(MpiCommunicator, AllReduceSumAvgMax) {
  Communicator& c = world();
  const int n = c.size(), r = c.rank();
  auto t = torch::full({1000}, static_cast<float>(r + 1));
  c.all_reduce(t, ReduceOp::kSum);
  EXPECT_TRUE(torch::allclose(t, torch::full({1000}, n * (n + 1) / 2.0f)));
  auto avg = torch::full({7}, static_cast<double>(r), torch::kDouble);
  c.all_reduce(avg, ReduceOp::kAvg);
  EXPECT_TRUE(torch::allclose(avg, torch::full({7}, (n - 1) / 2.0, torch::kDouble)));
  auto mx = torch::tensor({static_cast<std::int64_t>(r * 10)});
  c.all_reduce(mx, ReduceOp::kMax);
  EXPECT_EQ(mx.item<std::int64_t>(), (n - 1) * 10);
}

TEST(MpiCommunicator, ReduceScatterAllGatherBroadcast) {
  Communicator& c = world();
  const int n = c.size(), r = c.rank();
  auto input = torch::arange(n * 3, torch::kFloat) + r;  // chunk k of rank r: 3k..3k+2 + r
  auto out = torch::empty({3});
  c.reduce_scatter(input, out, ReduceOp::kSum);
  auto expected = (torch::arange(3, torch::kFloat) + 3 * r) * n + n * (n - 1) / 2.0f;
  EXPECT_TRUE(torch::allclose(out, expected)) << out;
  auto gathered = torch::empty({n * 2});
  c.all_gather(torch::full({2}, static_cast<float>(r)), gathered);
  for (int k = 0; k < n; ++k) EXPECT_FLOAT_EQ(gathered[2 * k].item<float>(), static_cast<float>(k));
  auto b = torch::full({4}, static_cast<float>(r == 1 ? 42 : -1));
  c.broadcast(b, 1);
  EXPECT_TRUE(torch::allclose(b, torch::full({4}, 42.f)));
}

TEST(MpiCommunicator, AsyncOperationsCompleteInOrderAndErrorsAreReported) {
  Communicator& c = world();
  std::vector<torch::Tensor> tensors;
  std::vector<std::shared_ptr<Work>> works;
  for (int i = 0; i < 8; ++i) {
    tensors.push_back(torch::full({100000}, static_cast<float>(i)));
    works.push_back(c.all_reduce_async(tensors.back(), ReduceOp::kAvg));
  }
  for (int i = 0; i < 8; ++i) {
    works[i]->wait();
    EXPECT_FLOAT_EQ(tensors[i][12345].item<float>(), static_cast<float>(i));
  }
  EXPECT_THROW(c.all_reduce_async(torch::ones({2}, torch::kHalf), ReduceOp::kSum), std::invalid_argument);
  EXPECT_THROW(c.all_reduce_async(torch::ones({4, 4}).t(), ReduceOp::kSum), std::invalid_argument);
}

// Whether `data` lies in a mapping of this project's node shared memory (/proc/self/maps).
bool in_node_shared_memory(const void* data) {
  std::ifstream maps("/proc/self/maps");
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/trafficfm-") == std::string::npos) continue;
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream(line) >> std::hex >> begin >> dash >> end;
    if (address >= begin && address < end) return true;
  }
  return false;
}

// On one node, allocate_buffer() gives shared memory whose all-reduce and reduce-scatter run
// without MPI messages: the results must be MPI's, and bitwise equal on every rank.
TEST(MpiCommunicator, NodeSharedBuffersReduceLikeMpi) {
  Communicator& c = world();
  const int n = c.size(), r = c.rank();
  const std::int64_t numel = 100003;  // not a multiple of the ranks or of the block
  auto shared = c.allocate_buffer(numel, torch::kFloat);
  EXPECT_TRUE(in_node_shared_memory(shared.data_ptr()));
  torch::manual_seed(100 + r);
  auto values = torch::randn({numel});
  shared.copy_(values);
  auto plain = values.clone();
  c.all_reduce(shared, ReduceOp::kSum);
  c.all_reduce(plain, ReduceOp::kSum);
  EXPECT_TRUE(torch::allclose(shared, plain, 1e-5, 1e-6)) << (shared - plain).abs().max();
  auto from_rank0 = shared.clone();
  c.broadcast(from_rank0, 0);
  EXPECT_TRUE(torch::equal(shared, from_rank0)) << "ranks differ after the shared all-reduce";

  // A slice of a double buffer, averaged; the rest of the buffer is left alone.
  auto doubles = c.allocate_buffer(1000, torch::kDouble);
  doubles.fill_(-1.0);
  auto slice = doubles.narrow(0, 17, 500);
  slice.copy_(torch::arange(500, torch::kDouble) * (r + 1));
  c.all_reduce(slice, ReduceOp::kAvg);
  EXPECT_TRUE(torch::allclose(slice, torch::arange(500, torch::kDouble) * ((n + 1) / 2.0)));
  EXPECT_EQ(doubles.narrow(0, 0, 17).sum().item<double>(), -17.0);
  EXPECT_EQ(doubles.narrow(0, 517, 483).sum().item<double>(), -483.0);

  // Reduce-scatter: this rank's chunk of the sum.
  auto input = c.allocate_buffer(n * 1001, torch::kFloat);
  input.copy_(torch::arange(n * 1001, torch::kFloat) + r);
  auto out = torch::empty({1001});
  c.reduce_scatter(input, out, ReduceOp::kSum);
  auto expected = (torch::arange(1001, torch::kFloat) + 1001 * r) * n + n * (n - 1) / 2.0f;
  EXPECT_TRUE(torch::allclose(out, expected));
  // The input is the caller's to reuse once the call returns.
  EXPECT_TRUE(torch::equal(input, torch::arange(n * 1001, torch::kFloat) + r));
}

TEST(ProcessGrid, TensorParallelRanksAreContiguous) {
  const auto g = make_grid_layout(8, 5, 2);
  EXPECT_EQ(g.dp, 4);
  EXPECT_EQ(g.tp_rank, 1);
  EXPECT_EQ(g.dp_rank, 2);
  EXPECT_THROW(make_grid_layout(6, 0, 4), std::invalid_argument);
  Communicator& c = world();
  if (c.size() % 2 != 0) GTEST_SKIP();
  ProcessGrid grid(c, 2);
  EXPECT_EQ(grid.tp().size(), 2);
  EXPECT_EQ(grid.dp().size(), c.size() / 2);
  EXPECT_EQ(grid.tp().rank(), c.rank() % 2);
  EXPECT_EQ(grid.dp().rank(), c.rank() / 2);
  // A sum over the tp group adds the two neighbours; over dp, the same tp_rank of every pair.
  auto t = torch::full({1}, static_cast<float>(c.rank()));
  grid.tp().all_reduce(t, ReduceOp::kSum);
  EXPECT_FLOAT_EQ(t.item<float>(), static_cast<float>(4 * (c.rank() / 2) + 1));
}

// Stands in for NCCL on a machine without GPUs: takes "device" (meta) tensors and counts the
// collectives it gets, over the ranks of the host communicator it was built from.
class CountingDeviceBackend : public Communicator {
 public:
  explicit CountingDeviceBackend(Communicator& host, int* calls)
      : rank_(host.rank()), size_(host.size()), calls_(calls) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "counting"; }
  std::shared_ptr<Work> all_reduce_async(torch::Tensor t, ReduceOp) override { return count(t); }
  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor, ReduceOp) override {
    return count(input);
  }
  std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor) override { return count(input); }
  std::shared_ptr<Work> broadcast_async(torch::Tensor t, int) override { return count(t); }
  void barrier() override { ++*calls_; }
  std::unique_ptr<Communicator> split(int, int) override {
    throw std::logic_error("the router splits the host");
  }

 private:
  struct Done : Work {
    void wait() override {}
  };
  std::shared_ptr<Work> count(const torch::Tensor& t) {
    if (!t.is_meta()) throw std::logic_error("a host tensor reached the device backend");
    ++*calls_;
    return std::make_shared<Done>();
  }
  int rank_, size_;
  int* calls_;
};

TEST(RoutedCommunicator, DeviceTensorsGoToTheDeviceBackendAndHostTensorsToMpi) {
  int device_calls = 0;
  std::vector<int> backend_sizes;
  auto factory = [&](Communicator& host) -> std::unique_ptr<Communicator> {
    backend_sizes.push_back(host.size());
    return std::make_unique<CountingDeviceBackend>(host, &device_calls);
  };
  auto routed = make_routed_communicator(make_mpi_world_communicator(), torch::kMeta, factory);
  const int n = routed->size(), r = routed->rank();
  EXPECT_STREQ(routed->backend(), "counting");
  auto host = torch::full({3}, static_cast<float>(r + 1));
  routed->all_reduce(host, ReduceOp::kSum);  // really summed over MPI
  EXPECT_FLOAT_EQ(host[0].item<float>(), n * (n + 1) / 2.0f);
  EXPECT_EQ(device_calls, 0);
  auto device = torch::empty({n * 2}, torch::TensorOptions().device(torch::kMeta));
  routed->all_reduce(device, ReduceOp::kAvg);
  routed->reduce_scatter(device, torch::empty({2}, torch::TensorOptions().device(torch::kMeta)),
                         ReduceOp::kSum);
  routed->all_gather(torch::empty({2}, torch::TensorOptions().device(torch::kMeta)), device);
  routed->broadcast(device, 0);
  EXPECT_EQ(device_calls, 4);
  EXPECT_THROW(routed->reduce_scatter(device, torch::empty({2}), ReduceOp::kSum), std::invalid_argument);
  // A split routes the same way, with a device backend over the split's ranks.
  auto pairs = routed->split(r / 2, r);
  EXPECT_EQ(backend_sizes.back(), pairs->size());
  EXPECT_EQ(pairs->size(), std::min(2, n - (r / 2) * 2));
  auto one = torch::ones({1});
  pairs->all_reduce(one, ReduceOp::kSum);
  EXPECT_FLOAT_EQ(one.item<float>(), static_cast<float>(pairs->size()));
  pairs->all_reduce(device, ReduceOp::kSum);
  EXPECT_EQ(device_calls, 5);
}

}  // namespace
}  // namespace trafficfm::distributed
