// The NCCL backend on real GPUs, against the MPI backend on the same values: every collective,
// the ordering against the compute stream, and the reducer over the routed (NCCL + MPI)
// communicator the trainer uses. Skipped where no GPU is visible (CI builds it, a GPU machine
// runs it).
//
// Ranks that outnumber the GPUs share them. NCCL refuses two ranks of one communicator on one
// GPU of one host, so each rank then names itself a host of its own (NCCL_HOSTID) and NCCL
// connects them through its network transport over loopback: slower, but the same code path
// as ranks on different nodes.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <string>

#include "distributed/communicator.h"
#include "distributed/reducer.h"
#include "distributed/routed_communicator.h"

namespace trafficfm::distributed {
namespace {

Communicator& host_world() {
  static auto comm = make_mpi_world_communicator();
  return *comm;
}

int gpu_count() { return static_cast<int>(torch::cuda::device_count()); }

int my_gpu() {
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return (local ? std::atoi(local) : host_world().rank()) % gpu_count();
}

#ifdef TRAFFICFM_HAVE_NCCL
// The device backend as the trainer builds it: NCCL for CUDA tensors, MPI for host tensors.
Communicator& routed_world() {
  static auto comm = [] {
    if (host_world().size() > gpu_count()) {
      setenv("NCCL_HOSTID", ("trafficfm-test-rank-" + std::to_string(host_world().rank())).c_str(), 1);
      setenv("NCCL_SOCKET_IFNAME", "lo", 0);
    }
    const int gpu = my_gpu();
    return make_routed_communicator(make_mpi_world_communicator(), torch::kCUDA,
                                    [gpu](Communicator& host) { return make_nccl_communicator(host, gpu); });
  }();
  return *comm;
}
#endif

#ifdef TRAFFICFM_HAVE_NCCL
#define SKIP_WITHOUT_GPU() \
  if (gpu_count() == 0) GTEST_SKIP() << "no CUDA device visible"
#else
#define SKIP_WITHOUT_GPU() GTEST_SKIP() << "built without NCCL"
#endif

torch::Device gpu() { return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(my_gpu())); }

// Values that differ by rank, the same on every run.
torch::Tensor rank_values(std::int64_t n, torch::ScalarType type) {
  torch::manual_seed(100 + host_world().rank());
  return torch::randn({n}).to(type);
}

void expect_same(const torch::Tensor& got_on_gpu, const torch::Tensor& want, const char* what, double rtol,
                 double atol = 1e-6) {
  auto got = got_on_gpu.cpu().to(torch::kDouble), ref = want.to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(got, ref, rtol, atol))
      << what << ": max difference " << (got - ref).abs().max().item<double>();
}

TEST(NcclCommunicator, CollectivesMatchMpi) {
  SKIP_WITHOUT_GPU();
#ifdef TRAFFICFM_HAVE_NCCL
  Communicator& nccl = routed_world();
  Communicator& mpi = host_world();
  EXPECT_STREQ(nccl.backend(), "nccl");
  const int n = mpi.size(), r = mpi.rank();
  const std::int64_t numel = 1 << 20;  // 4 MB of floats: several NCCL chunks
  for (auto op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax}) {
    auto want = rank_values(numel, torch::kFloat);
    auto got = want.to(gpu());
    mpi.all_reduce(want, op);
    nccl.all_reduce(got, op);
    expect_same(got, want, "all_reduce float32", 1e-6);
  }
  {
    auto want = rank_values(numel, torch::kDouble);
    auto got = want.to(gpu());
    mpi.all_reduce(want, ReduceOp::kSum);
    nccl.all_reduce(got, ReduceOp::kSum);
    expect_same(got, want, "all_reduce float64", 1e-12);
  }
  {  // bf16 on the wire (the MPI reference sums in float32, then rounds once)
    auto values = rank_values(4096, torch::kBFloat16);
    auto want = values.to(torch::kFloat);
    auto got = values.to(gpu());
    mpi.all_reduce(want, ReduceOp::kSum);
    nccl.all_reduce(got, ReduceOp::kSum);
    expect_same(got, want, "all_reduce bfloat16", 2e-2, 2e-2);
  }
  {
    auto input = rank_values(numel, torch::kFloat);
    auto want = torch::empty({numel / n});
    auto got = torch::empty({numel / n}, gpu());
    mpi.reduce_scatter(input, want, ReduceOp::kSum);
    nccl.reduce_scatter(input.to(gpu()), got, ReduceOp::kSum);
    expect_same(got, want, "reduce_scatter", 1e-6);
  }
  {
    auto input = rank_values(1000, torch::kFloat);
    auto want = torch::empty({1000 * n});
    auto got = torch::empty({1000 * n}, gpu());
    mpi.all_gather(input, want);
    nccl.all_gather(input.to(gpu()), got);
    expect_same(got, want, "all_gather", 0);
  }
  {
    auto got = torch::full({257}, static_cast<float>(r == n - 1 ? 42 : r), gpu());
    nccl.broadcast(got, n - 1);
    expect_same(got, torch::full({257}, 42.f), "broadcast", 0);
  }
  {  // host tensors still go to MPI through the same communicator
    auto t = torch::full({3}, static_cast<float>(r + 1));
    nccl.all_reduce(t, ReduceOp::kSum);
    expect_same(t, torch::full({3}, n * (n + 1) / 2.0f), "host tensor through the routed communicator", 0);
  }
#endif
}

// The input of a collective is produced by a long kernel on the compute stream and its output
// read by the next kernel there, with no host synchronisation in between: the events must
// make NCCL wait for the producer and the consumer wait for NCCL.
TEST(NcclCommunicator, OrderedAgainstTheComputeStream) {
  SKIP_WITHOUT_GPU();
#ifdef TRAFFICFM_HAVE_NCCL
  Communicator& nccl = routed_world();
  const int n = nccl.size();
  for (int round = 0; round < 5; ++round) {
    torch::manual_seed(5 + round);  // the same matrices on every rank
    auto a = torch::randn({4096, 4096}, gpu()), b = torch::randn({4096, 4096}, gpu());
    auto produced = torch::matmul(a, b).mul_(1.0 / 4096).add_(host_world().rank());  // ~ms of work
    auto work = nccl.all_reduce_async(produced, ReduceOp::kSum);
    work->wait();                             // host returns at once; the stream waits
    auto consumed = produced.sum(/*dim=*/1);  // the next kernel on the compute stream
    auto want = (torch::matmul(a, b).mul_(1.0 / 4096).mul_(n).add_(n * (n - 1) / 2.0)).sum(1);
    expect_same(consumed, want.cpu(), "matmul -> all_reduce -> sum", 1e-4);
  }
#endif
}

struct Mlp : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr};
  Mlp() {
    a = register_module("a", torch::nn::Linear(16, 256));
    b = register_module("b", torch::nn::Linear(256, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b->forward(torch::gelu(a->forward(x))); }
};

// Data parallel on GPUs: dp ranks with 1/dp of the batch each end with the gradients of one
// rank on the full batch; several buckets, each all-reduced by NCCL from autograd's thread.
TEST(NcclReducer, HalfBatchPerRankGivesFullBatchGradients) {
  SKIP_WITHOUT_GPU();
#ifdef TRAFFICFM_HAVE_NCCL
  Communicator& c = routed_world();
  const int n = 16 * c.size();
  torch::manual_seed(1234);
  auto x = torch::randn({n, 16}).to(gpu()), y = torch::randn({n, 4}).to(gpu());
  std::vector<torch::Tensor> want;
  {
    torch::manual_seed(7);
    Mlp reference;
    reference.to(gpu());
    torch::mse_loss(reference.forward(x), y).backward();
    for (auto& p : reference.parameters()) want.push_back(p.grad().cpu());
  }
  torch::manual_seed(7 + 100 * c.rank());  // different init per rank: the reducer's broadcast fixes it
  Mlp m;
  m.to(gpu());
  std::vector<NamedParameter> named;
  for (auto& p : m.named_parameters()) named.push_back({p.key(), p.value()});
  ReducerOptions options;
  options.bucket_bytes = 4096;
  options.loss_divided_by_dp = true;
  Reducer reducer(named, c, options);
  EXPECT_GE(reducer.buckets(), 3u);
  const int share = n / c.size();
  auto xs = x.narrow(0, c.rank() * share, share), ys = y.narrow(0, c.rank() * share, share);
  for (int step = 0; step < 3; ++step) {
    m.zero_grad(/*set_to_none=*/false);
    (torch::mse_loss(m.forward(xs), ys) / c.size()).backward();
    reducer.finish();
    auto params = m.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(params[i].grad().is_cuda());
      expect_same(params[i].grad(), want[i], ("step " + std::to_string(step) + " gradient").c_str(), 1e-5);
    }
  }
#endif
}

}  // namespace
}  // namespace trafficfm::distributed
