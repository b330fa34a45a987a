// Data-parallel gradient sync: dp ranks with 1/dp of the batch each end with exactly the
// gradients of one rank on the full batch (every rank computes that reference itself).
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "distributed/reducer.h"

namespace trafficfm::distributed {
namespace {

Communicator& world() {
  static auto comm = make_mpi_world_communicator();
  return *comm;
}

struct Mlp : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr};
  explicit Mlp(bool with_unused = false) {
    a = register_module("a", torch::nn::Linear(16, 64));
    b = register_module("b", torch::nn::Linear(64, 4));
    if (with_unused) unused = register_module("unused", torch::nn::Linear(4, 4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b->forward(torch::gelu(a->forward(x))); }
};

std::vector<NamedParameter> named(Mlp& m) {
  std::vector<NamedParameter> out;
  for (auto& p : m.named_parameters()) out.push_back({p.key(), p.value()});
  return out;
}

// The same batch on every rank (seeded), and a rank-specific model init that the reducer's
// broadcast must make identical.
std::pair<torch::Tensor, torch::Tensor> batch(int n) {
  torch::manual_seed(1234);
  return {torch::randn({n, 16}), torch::randn({n, 4})};
}

std::vector<torch::Tensor> reference_grads(int n) {
  torch::manual_seed(7);  // rank 0's init, which the broadcast spreads
  Mlp m;
  auto [x, y] = batch(n);
  torch::mse_loss(m.forward(x), y).backward();
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().clone());
  return g;
}

void expect_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(torch::allclose(got[i], want[i], /*rtol=*/1e-5, /*atol=*/1e-7))
        << "parameter " << i << " max diff " << (got[i] - want[i]).abs().max().item<float>();
  }
}

TEST(Reducer, HalfBatchPerRankGivesFullBatchGradients) {
  Communicator& c = world();
  const int n = 8 * c.size();
  torch::manual_seed(7 + 100 * c.rank());  // different init per rank: the broadcast fixes it
  Mlp m;
  ReducerOptions options;
  options.bucket_bytes = 1024;  // several buckets
  Reducer reducer(named(m), c, options);
  EXPECT_GE(reducer.buckets(), 3u);
  auto [x, y] = batch(n);
  const int share = n / c.size();
  auto xs = x.narrow(0, c.rank() * share, share), ys = y.narrow(0, c.rank() * share, share);
  for (int step = 0; step < 2; ++step) {  // buffers are reused across steps
    m.zero_grad();
    torch::mse_loss(m.forward(xs), ys).backward();
    reducer.finish();
    std::vector<torch::Tensor> g;
    for (auto& p : m.parameters()) g.push_back(p.grad());
    expect_close(g, reference_grads(n));
  }
}

// .grad() is a view into the bucket (no copies in or out); a gradient set to none or replaced
// between steps is taken into the bucket again; a loss divided by dp needs only a sum.
TEST(Reducer, GradientsLiveInTheBucketAndSurviveBeingReplaced) {
  Communicator& c = world();
  const int n = 8 * c.size();
  torch::manual_seed(7 + 100 * c.rank());
  Mlp m;
  ReducerOptions options;
  options.loss_divided_by_dp = true;
  Reducer reducer(named(m), c, options);
  ASSERT_EQ(reducer.buckets(), 1u);
  auto [x, y] = batch(n);
  const int share = n / c.size();
  auto xs = x.narrow(0, c.rank() * share, share), ys = y.narrow(0, c.rank() * share, share);
  const auto want = reference_grads(n);
  for (int step = 0; step < 4; ++step) {
    if (step == 1) m.zero_grad(/*set_to_none=*/true);
    if (step == 2) {
      m.zero_grad();
      m.a->weight.mutable_grad() = torch::zeros_like(m.a->weight);  // a foreign tensor
    }
    if (step == 3) m.zero_grad();
    (torch::mse_loss(m.forward(xs), ys) / c.size()).backward();
    reducer.finish();
    std::vector<torch::Tensor> g;
    for (auto& p : m.parameters()) {
      g.push_back(p.grad());
      EXPECT_EQ(p.grad().storage().data(), m.a->weight.grad().storage().data())
          << "step " << step << ": a gradient outside the bucket";
    }
    expect_close(g, want);
  }
}

TEST(Reducer, GradientAccumulationSyncsOnlyTheLastMicroBatch) {
  Communicator& c = world();
  const int n = 8 * c.size();
  torch::manual_seed(7 + 100 * c.rank());
  Mlp m;
  Reducer reducer(named(m), c);
  auto [x, y] = batch(n);
  const int share = n / c.size(), micro = share / 2;
  m.zero_grad();
  for (int k = 0; k < 2; ++k) {
    reducer.set_sync(k == 1);
    auto xs = x.narrow(0, c.rank() * share + k * micro, micro);
    auto ys = y.narrow(0, c.rank() * share + k * micro, micro);
    (torch::mse_loss(m.forward(xs), ys) / 2).backward();  // mean over the two micro-batches
    reducer.finish();
  }
  std::vector<torch::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad());
  expect_close(g, reference_grads(n));
}

TEST(Reducer, UnusedParameterIsAnErrorNamingItUnlessAllowed) {
  Communicator& c = world();
  torch::manual_seed(3);
  Mlp m(/*with_unused=*/true);
  auto [x, y] = batch(4);
  {
    Reducer reducer(named(m), c);
    torch::mse_loss(m.forward(x), y).backward();
    try {
      reducer.finish();
      FAIL();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("unused.weight"), std::string::npos) << e.what();
    }
  }
  m.zero_grad();
  ReducerOptions allow;
  allow.find_unused = true;
  Reducer reducer(named(m), c, allow);
  torch::mse_loss(m.forward(x), y).backward();
  reducer.finish();
  EXPECT_TRUE(torch::allclose(m.unused->weight.grad(), torch::zeros({4, 4})));
}

// A tied weight (one tensor under two names, as LibTorch's named_parameters() lists it) gets
// one bucket slot: a second slot would take a second hook, a second view and a second update.
struct Tied : torch::nn::Module {
  torch::Tensor w;
  std::shared_ptr<torch::nn::Module> inner;
  Tied() {
    w = register_parameter("w", torch::randn({6, 6}));
    inner = register_module("inner", std::make_shared<torch::nn::Module>());
    inner->register_parameter("w", w);  // the same tensor again
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::tanh(x.matmul(w)).matmul(w); }
};

TEST(Reducer, ATiedWeightIsOneParameterWithTheGradientOfBothUses) {
  Communicator& c = world();
  const int n = 4 * c.size();
  torch::manual_seed(11);
  Tied reference;
  ASSERT_EQ(reference.named_parameters().size(), 2u);
  torch::manual_seed(99);
  const auto x = torch::randn({n, 6}), y = torch::randn({n, 6});
  torch::mse_loss(reference.forward(x), y).backward();
  torch::manual_seed(11 + c.rank());  // the broadcast makes the ranks agree
  Tied m;
  std::vector<NamedParameter> named_list;
  for (auto& p : m.named_parameters()) named_list.push_back({p.key(), p.value()});
  Reducer reducer(named_list, c);
  ASSERT_EQ(reducer.parameters().size(), 1u);
  EXPECT_EQ(reducer.parameters()[0].name, "w");
  const int share = n / c.size();
  for (int step = 0; step < 2; ++step) {
    m.zero_grad();
    torch::mse_loss(m.forward(x.narrow(0, c.rank() * share, share)), y.narrow(0, c.rank() * share, share))
        .backward();
    reducer.finish();
    EXPECT_TRUE(torch::allclose(m.w.grad(), reference.w.grad(), 1e-5, 1e-7))
        << "step " << step << " max diff " << (m.w.grad() - reference.w.grad()).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace trafficfm::distributed
