// Tensor-parallel layers at tp = 2 (on 2 ranks, and as two tp pairs on 4 ranks) give the
// outputs and the gradients of the unsplit layer (computed by every rank alone) to 1e-5.
#include <gtest/gtest.h>

#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/tensor_parallel_layers.h"
#include "distributed/tensor_parallel_state.h"
#include "distributed/vocab_parallel_loss.h"
#include "distributed/zero_optimizer.h"
#include "tests/mpi/tensor_parallel_testing.h"

namespace trafficfm::distributed {
namespace {

using testing::expect_close;
using testing::expect_grads_match;
testing::TensorParallelSetup& setup() { return testing::tensor_parallel_setup(); }

TEST(TensorParallel, ColumnAndRowParallelLinear) {
  auto& s = setup();
  Communicator& tp = s.grid->tp();
  torch::manual_seed(1);
  auto x_full = torch::randn({6, 16}, torch::requires_grad());
  auto upstream = torch::randn({6, 24});
  for (bool column : {true, false}) {
    torch::manual_seed(2);
    std::shared_ptr<torch::nn::Module> full, split;
    torch::Tensor y_full, y_split;
    auto x_split = x_full.detach().clone().requires_grad_(true);
    if (column) {
      auto f = std::make_shared<ColumnParallelLinear>(16, 24, *s.alone);
      auto p = std::make_shared<ColumnParallelLinear>(16, 24, tp);
      p->load_full(f->weight, f->bias);
      y_full = f->forward(x_full);
      y_split = p->forward(x_split);
      full = f, split = p;
    } else {
      auto f = std::make_shared<RowParallelLinear>(16, 24, *s.alone);
      auto p = std::make_shared<RowParallelLinear>(16, 24, tp);
      torch::NoGradGuard no_grad;
      f->bias.uniform_(-1, 1);
      p->load_full(f->weight, f->bias);
      full = f, split = p;
    }
    if (!column) {
      y_full = std::dynamic_pointer_cast<RowParallelLinear>(full)->forward(x_full);
      y_split = std::dynamic_pointer_cast<RowParallelLinear>(split)->forward(x_split);
    }
    expect_close(y_split, y_full, column ? "column output" : "row output");
    x_full.mutable_grad() = torch::Tensor();
    (y_full * upstream).sum().backward();
    (y_split * upstream).sum().backward();
    expect_close(x_split.grad(), x_full.grad(), "input grad");
    expect_grads_match(*split, *full, tp.rank());
  }
}

TEST(TensorParallel, VocabParallelEmbeddingAndCrossEntropy) {
  auto& s = setup();
  Communicator& tp = s.grid->tp();
  torch::manual_seed(3);
  VocabParallelEmbedding full(40, 8, *s.alone), split(40, 8, tp);
  split.load_full(full.weight);
  auto ids = torch::randint(0, 40, {5, 7});
  auto upstream = torch::randn({5, 7, 8});
  auto e_full = full.forward(ids), e_split = split.forward(ids);
  expect_close(e_split, e_full, "embedding");
  (e_full * upstream).sum().backward();
  (e_split * upstream).sum().backward();
  expect_grads_match(split, full, tp.rank());

  auto logits = torch::randn({12, 40}, torch::requires_grad());
  auto target = torch::randint(0, 40, {12});
  const std::int64_t width = 40 / tp.size();
  auto shard = logits.detach().narrow(1, tp.rank() * width, width).clone().requires_grad_(true);
  auto loss_full = torch::nn::functional::cross_entropy(logits, target);
  auto loss_split = vocab_parallel_cross_entropy(shard, target, tp);
  expect_close(loss_split, loss_full, "cross-entropy");
  loss_full.backward();
  loss_split.backward();
  expect_close(shard.grad(), logits.grad().narrow(1, tp.rank() * width, width), "logits grad");

  // Per position, under a non-uniform upstream gradient (the fused backward scales by it), with
  // the argmax hits from the same pass.
  logits.mutable_grad() = torch::Tensor();
  shard.mutable_grad() = torch::Tensor();
  const auto weights = torch::rand({12});
  const auto per_full = torch::nn::functional::cross_entropy(
      logits, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  const auto per_split = vocab_parallel_losses(shard, target, tp);
  expect_close(per_split.losses, per_full, "per-position cross-entropy");
  EXPECT_TRUE(torch::equal(per_split.hits, (logits.argmax(-1) == target).to(torch::kFloat)));
  EXPECT_FALSE(per_split.hits.requires_grad());
  (per_full * weights).sum().backward();
  (per_split.losses * weights).sum().backward();
  expect_close(shard.grad(), logits.grad().narrow(1, tp.rank() * width, width), "weighted logits grad");
}

// T5's relative position bias split with the heads: each tp rank looks up its own heads'
// columns, the gradient of the unsplit table's columns, and the checkpoint walk and the
// optimizer's grouping both see the table as split along dim 1.
TEST(TensorParallel, HeadParallelTableHoldsItsOwnHeads) {
  auto& s = setup();
  Communicator& tp = s.grid->tp();
  torch::manual_seed(4);
  HeadParallelTable full(32, 6, *s.alone, 0.5);
  torch::manual_seed(4);
  HeadParallelTable split(32, 6, tp, 0.5);
  EXPECT_TRUE(torch::equal(split.weight, full.weight.narrow(1, tp.rank() * 3, 3)));  // same init, sliced
  split.load_full(full.weight.detach());
  const auto ids = torch::randint(0, 32, {5, 7}, torch::kLong);
  const auto y_full = full.forward(ids), y_split = split.forward(ids);
  ASSERT_EQ(y_split.sizes(), (torch::IntArrayRef{5, 7, 3}));
  expect_close(y_split, y_full.narrow(2, tp.rank() * 3, 3), "lookup");
  const auto upstream = torch::randn({5, 7, 6});
  (y_full * upstream).sum().backward();
  (y_split * upstream.narrow(2, tp.rank() * 3, 3)).sum().backward();
  expect_grads_match(split, full, tp.rank());
  const auto sharded = sharded_tensors(split);
  ASSERT_EQ(sharded.size(), 1u);
  EXPECT_EQ(sharded[0].split_dim, 1);
  expect_close(gather_full(split.weight, 1, tp), full.weight.detach(), "gathered table");
  EXPECT_TRUE(tensor_parallel_parameters(split).is_split(split.weight));
  EXPECT_THROW(HeadParallelTable(32, 5, tp), std::invalid_argument);  // 5 heads over tp 2
}

TEST(TensorParallel, TransformerBlock) {
  auto& s = setup();
  Communicator& tp = s.grid->tp();
  torch::manual_seed(4);
  ParallelTransformerBlock full(32, 4, 64, *s.alone), split(32, 4, 64, tp);
  {
    torch::NoGradGuard no_grad;
    auto full_params = full.named_parameters();
    for (auto& p : full_params) {
      if (p.key().find("ln") != std::string::npos) p.value().uniform_(0.5, 1.5);  // non-trivial norms
    }
    split.ln1->weight.copy_(full.ln1->weight), split.ln1->bias.copy_(full.ln1->bias);
    split.ln2->weight.copy_(full.ln2->weight), split.ln2->bias.copy_(full.ln2->bias);
    full.attention->out->bias.uniform_(-0.1, 0.1);
    full.fc2->bias.uniform_(-0.1, 0.1);
    split.attention->qkv->load_full(full.attention->qkv->weight, full.attention->qkv->bias);
    split.attention->out->load_full(full.attention->out->weight, full.attention->out->bias);
    split.fc1->load_full(full.fc1->weight, full.fc1->bias);
    split.fc2->load_full(full.fc2->weight, full.fc2->bias);
  }
  auto x_full = torch::randn({3, 10, 32}, torch::requires_grad());
  auto x_split = x_full.detach().clone().requires_grad_(true);
  auto upstream = torch::randn({3, 10, 32});
  auto y_full = full.forward(x_full), y_split = split.forward(x_split);
  expect_close(y_split, y_full, "block output");
  (y_full * upstream).sum().backward();
  (y_split * upstream).sum().backward();
  expect_close(x_split.grad(), x_full.grad(), "block input grad");
  expect_grads_match(split, full, tp.rank());
}

TEST(TensorParallel, RngTrackerReplicatedAcrossTpSplitWithin) {
  auto& s = setup();
  const auto& g = s.grid->layout();
  TensorParallelRng rng(99, g.dp_rank, g.tp_rank);
  auto ones = torch::ones({1000});
  auto replicated = rng.dropout_replicated(ones, 0.5, true);
  auto split = rng.dropout_split(ones, 0.5, true);
  auto gathered_r = torch::empty({2 * 1000}), gathered_s = torch::empty({2 * 1000});
  s.grid->tp().all_gather(replicated.contiguous(), gathered_r);
  s.grid->tp().all_gather(split.contiguous(), gathered_s);
  EXPECT_TRUE(torch::equal(gathered_r.narrow(0, 0, 1000), gathered_r.narrow(0, 1000, 1000)));
  EXPECT_FALSE(torch::equal(gathered_s.narrow(0, 0, 1000), gathered_s.narrow(0, 1000, 1000)));
  EXPECT_NEAR(replicated.mean().item<float>(), 1.0, 0.15);  // inverted dropout keeps the mean
}

}  // namespace
}  // namespace trafficfm::distributed
