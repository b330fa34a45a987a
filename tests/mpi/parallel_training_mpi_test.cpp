// dp x tp training of a small transformer language model follows the single-rank loss curve:
// 20 AdamW steps with global gradient clipping, plain, with ZeRO-1, and with gradient
// accumulation. On 4 ranks: dp 2 x tp 2; on 2 ranks: dp 1 x tp 2. Every rank also trains the
// unsplit model on the full batch itself, as the reference. The models run in float64 so the
// comparison checks the parallel algorithm, not float32 summation order (which AdamW's
// normalized steps amplify to ~3e-4 over 20 steps at this learning rate).
#include <gtest/gtest.h>

#include <cmath>

#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/reducer.h"
#include "distributed/tensor_parallel_layers.h"
#include "distributed/vocab_parallel_loss.h"
#include "distributed/zero_optimizer.h"

namespace trafficfm::distributed {
namespace {

constexpr int kVocab = 64, kDim = 32, kHeads = 4, kSeq = 12, kBatch = 8, kSteps = 20;
constexpr double kLr = 1e-2, kMaxNorm = 1.0;

struct TinyLm : torch::nn::Module {
  std::shared_ptr<VocabParallelEmbedding> embed;
  std::shared_ptr<ParallelTransformerBlock> block1, block2;
  torch::nn::LayerNorm norm{nullptr};
  std::shared_ptr<ColumnParallelLinear> head;
  Communicator& tp;
  explicit TinyLm(Communicator& tp_) : tp(tp_) {
    torch::manual_seed(11);  // the same draws on every rank and for the unsplit model
    embed = register_module("embed", std::make_shared<VocabParallelEmbedding>(kVocab, kDim, tp));
    block1 =
        register_module("block1", std::make_shared<ParallelTransformerBlock>(kDim, kHeads, 2 * kDim, tp));
    block2 =
        register_module("block2", std::make_shared<ParallelTransformerBlock>(kDim, kHeads, 2 * kDim, tp));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({kDim})));
    head = register_module("head", std::make_shared<ColumnParallelLinear>(kDim, kVocab, tp, false, false));
  }
  torch::Tensor loss(const torch::Tensor& tokens) {
    auto inputs = tokens.narrow(1, 0, kSeq - 1), targets = tokens.narrow(1, 1, kSeq - 1);
    auto h = norm->forward(block2->forward(block1->forward(embed->forward(inputs))));
    auto logits = head->forward(h).reshape({-1, kVocab / tp.size()});
    return vocab_parallel_cross_entropy(logits, targets.reshape({-1}), tp);
  }
};

// Learnable sequences: a random start, then next = (5 * token + 3) mod vocab.
torch::Tensor batch(int step) {
  torch::manual_seed(1000 + step);
  auto tokens = torch::empty({kBatch, kSeq}, torch::kLong);
  tokens.select(1, 0).copy_(torch::randint(0, kVocab, {kBatch}));
  for (int t = 1; t < kSeq; ++t) tokens.select(1, t).copy_((tokens.select(1, t - 1) * 5 + 3) % kVocab);
  return tokens;
}

bool decays(const torch::Tensor& p) { return p.dim() >= 2; }

std::vector<double> reference_curve(Communicator& alone) {
  TinyLm model(alone);
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) (decays(p) ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(kLr).weight_decay(0.01)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(kLr).weight_decay(0.0)));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(kLr));
  std::vector<double> curve;
  for (int s = 0; s < kSteps; ++s) {
    optimizer.zero_grad();
    auto loss = model.loss(batch(s));
    loss.backward();
    clip_grad_norm(tensor_parallel_parameters(model), kMaxNorm, alone);
    optimizer.step();
    curve.push_back(loss.item<double>());
  }
  return curve;
}

enum class Mode { kPlain, kZero, kAccumulate };

std::vector<double> parallel_curve(ProcessGrid& grid, Mode mode) {
  TinyLm model(grid.tp());
  std::vector<NamedParameter> named;
  for (auto& p : model.named_parameters()) named.push_back({p.key(), p.value()});
  ReducerOptions reducer_options;
  reducer_options.bucket_bytes = 4096;
  reducer_options.shard_gradients = mode == Mode::kZero;
  Reducer reducer(named, grid.dp(), reducer_options);
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.parameters()) (decays(p) ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(kLr).weight_decay(0.01)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(kLr).weight_decay(0.0)));
  torch::optim::AdamW adamw(groups, torch::optim::AdamWOptions(kLr));
  const auto tp_params = tensor_parallel_parameters(model);
  std::vector<bool> decay_mask;
  std::vector<double> norm_weight;
  for (auto& p : named) {
    decay_mask.push_back(decays(p.tensor));
    norm_weight.push_back(tp_params.is_split(p.tensor) ? 1.0 : 1.0 / grid.tp().size());
  }
  AdamWOptions zero_options;
  zero_options.lr = kLr;
  ZeroAdamW zero(reducer, zero_options, decay_mask);

  const int dp = grid.dp().size(), share = kBatch / dp;
  std::vector<double> curve;
  for (int s = 0; s < kSteps; ++s) {
    model.zero_grad();
    auto mine = batch(s).narrow(0, grid.layout().dp_rank * share, share);
    double local_loss = 0;
    if (mode == Mode::kAccumulate) {
      for (int k = 0; k < 2; ++k) {
        reducer.set_sync(k == 1);
        auto loss = model.loss(mine.narrow(0, k * share / 2, share / 2)) / 2;
        loss.backward();
        reducer.finish();
        local_loss += loss.item<double>();
      }
    } else {
      auto loss = model.loss(mine);
      loss.backward();
      reducer.finish();
      local_loss = loss.item<double>();
    }
    if (mode == Mode::kZero) {
      auto sq = torch::tensor({zero.local_grad_square_sum(norm_weight)}, torch::kDouble);
      grid.dp().all_reduce(sq, ReduceOp::kSum);
      grid.tp().all_reduce(sq, ReduceOp::kSum);
      const double norm = std::sqrt(sq.item<double>());
      zero.step(norm > kMaxNorm ? kMaxNorm / (norm + 1e-6) : 1.0);
    } else {
      clip_grad_norm(tp_params, kMaxNorm, grid.tp());
      adamw.step();
    }
    auto l = torch::tensor({local_loss}, torch::kDouble);
    grid.dp().all_reduce(l, ReduceOp::kAvg);
    curve.push_back(l.item<double>());
  }
  if (mode == Mode::kZero) {
    std::int64_t full_state = 0;
    for (auto& p : model.parameters()) full_state += 2 * p.numel() * p.element_size();
    // Each dp rank keeps 1/dp of the moments (plus at most dp - 1 padding elements a bucket).
    EXPECT_LE(zero.state_bytes(), full_state / dp + 8 * dp * static_cast<std::int64_t>(reducer.buckets()));
    if (grid.world().rank() == 0) {
      std::printf("ZeRO-1: optimizer state %lld bytes per rank vs %lld unsharded (dp %d)\n",
                  static_cast<long long>(zero.state_bytes()), static_cast<long long>(full_state), dp);
    }
  }
  return curve;
}

struct Setup {
  bool dtype_set = (torch::set_default_dtype(caffe2::TypeMeta::Make<double>()), true);
  std::unique_ptr<Communicator> world = make_mpi_world_communicator();
  std::unique_ptr<ProcessGrid> grid = std::make_unique<ProcessGrid>(*world, 2);
  std::unique_ptr<Communicator> alone = world->split(world->rank(), 0);
  std::vector<double> reference = reference_curve(*alone);
};
Setup& setup() {
  static Setup s;
  return s;
}

void expect_same_curve(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t s = 0; s < got.size(); ++s) EXPECT_NEAR(got[s], want[s], 1e-4) << "step " << s;
  EXPECT_LT(want.back(), want.front() - 0.3);  // it does learn
}

TEST(ParallelTraining, FollowsTheSingleRankLossCurve) {
  expect_same_curve(parallel_curve(*setup().grid, Mode::kPlain), setup().reference);
}

TEST(ParallelTraining, WithZero1) {
  expect_same_curve(parallel_curve(*setup().grid, Mode::kZero), setup().reference);
}

TEST(ParallelTraining, WithGradientAccumulation) {
  expect_same_curve(parallel_curve(*setup().grid, Mode::kAccumulate), setup().reference);
}

}  // namespace
}  // namespace trafficfm::distributed
