// The trainer on 1 and 2 ranks with a small test model: 40 steps straight equal 20 steps,
// stop, resume from the checkpoint, 20 more (every logged loss identical, bitwise); a damaged
// newest checkpoint is skipped by hash and resume takes the one before.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>

#include "core/checkpoint_store.h"
#include "core/json_value.h"
#include "core/trainer/trainer.h"
#include "distributed/communicator.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::core {
namespace {

// Byte classifier over the mmae encoding: the smallest Task that trains on a real corpus.
// A batch's flow bytes [rows, 1600] (uint8) and labels [rows] (int32), viewed in place.
std::pair<torch::Tensor, torch::Tensor> bytes_and_labels(const datasets::Batch& batch) {
  const auto n = static_cast<std::int64_t>(batch.rows);
  return {
      torch::from_blob(const_cast<std::uint8_t*>(batch.column<std::uint8_t>("bytes")), {n, 1600},
                       torch::kUInt8),
      torch::from_blob(const_cast<std::int32_t*>(batch.column<std::int32_t>("label")), {n}, torch::kInt32)};
}

// With `batch_norm`, a BatchNorm whose running statistics (buffers, updated from each rank's own
// batch) decide the val loss.
class ByteClassifier : public Task {
 public:
  explicit ByteClassifier(bool batch_norm = false) {
    torch::manual_seed(5);
    net_ = torch::nn::Sequential(torch::nn::Linear(1600, 32));
    if (batch_norm) net_->push_back(torch::nn::BatchNorm1d(32));
    net_->push_back(torch::nn::ReLU());
    net_->push_back(torch::nn::Dropout(0.1));
    net_->push_back(torch::nn::Linear(32, 6));
  }
  torch::nn::Module& model() override { return *net_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    const auto n = static_cast<std::int64_t>(batch.rows);
    const auto [bytes, labels] = bytes_and_labels(batch);
    // BatchNorm takes no batch statistics from one row (an epoch's last share): running ones then.
    const bool one_row = net_->is_training() && n < 2;
    if (one_row) net_->eval();
    auto logits = net_->forward(bytes.to(torch::kFloat) / 255.0);
    if (one_row) net_->train();
    auto ce = torch::nn::functional::cross_entropy(logits, labels.to(torch::kLong));
    return {{"loss", ce}, {"ce", ce}, {"accuracy", (logits.argmax(1) == labels).to(torch::kFloat).mean()}};
  }

 private:
  torch::nn::Sequential net_{nullptr};
};

struct World {
  std::unique_ptr<distributed::Communicator> comm = distributed::make_mpi_world_communicator();
  std::unique_ptr<distributed::ProcessGrid> grid = std::make_unique<distributed::ProcessGrid>(*comm, 1);
  std::string dir;
  World() {
    if (comm->rank() == 0) {
      dir = testing::make_temp_dir("trainer");
      testing::make_synth_corpus(dir, {300, 4});
    }
    int length = static_cast<int>(dir.size());
    MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(length);
    MPI_Bcast(dir.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
  }
};
World& world() {
  static World w;
  return w;
}

// `samples` > 0: train on the split's first `samples` samples only. `run_samples` > 0: the run
// is defined in samples (its schedule counts samples too).
TrainResult train(const std::string& out, std::uint64_t steps, bool resume, std::uint64_t samples = 0,
                  std::size_t accumulation = 2, std::uint64_t run_samples = 0, std::uint64_t ckpt_every = 0) {
  World& w = world();
  ByteClassifier task;
  datasets::LoaderOptions lo;
  lo.corpus = w.dir + "/corpus";
  lo.dp_rank = w.grid->layout().dp_rank;
  lo.dp_size = w.grid->layout().dp;
  lo.batch_size = 16;
  lo.seed = 3;
  lo.pad_empty_ranks = true;  // as `trafficfm pretrain` and `finetune` train
  for (std::uint64_t i = 0; i < samples; ++i) lo.subset.push_back(i);
  datasets::Loader loader(lo);
  TrainerOptions o;
  o.out_dir = out;
  o.steps = steps;
  o.log_every = 1;
  o.schedule = run_samples > 0 ? LrSchedule{3e-3, 20, run_samples, 0.1, "cosine"}
                               : LrSchedule{3e-3, 5, 40, 0.1, "cosine"};
  o.samples = run_samples;
  o.ckpt_every = ckpt_every;
  o.keep_last = 100;
  o.resume = resume;
  o.accumulation = accumulation;
  Trainer trainer(task, loader, nullptr, *w.grid, o);
  return trainer.run();
}

std::vector<std::string> metric_lines(const std::string& out) {
  std::ifstream in(out + "/metrics.jsonl");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    // Timing fields differ between runs; everything before them must not.
    lines.push_back(line.substr(0, line.find(", \"step_time_s\"")));
  }
  return lines;
}

TEST(Trainer, ResumeIsBitwiseIdenticalToTheUninterruptedRun) {
  World& w = world();
  const std::string straight = w.dir + "/straight", split = w.dir + "/split";
  EXPECT_EQ(train(straight, 40, false).steps_done, 40u);
  EXPECT_EQ(train(split, 20, false).steps_done, 20u);
  const auto resumed = train(split, 40, true);
  EXPECT_EQ(resumed.resumed_from, 20u);
  EXPECT_EQ(resumed.steps_done, 40u);
  if (w.comm->rank() == 0) {
    const auto a = metric_lines(straight), b = metric_lines(split);
    ASSERT_EQ(a.size(), 40u);
    ASSERT_EQ(b.size(), 40u);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
    EXPECT_NE(a.front(), a.back());  // it trained
  }
}

std::vector<JsonValue> metric_values(const std::string& out) {
  std::ifstream in(out + "/metrics.jsonl");
  std::vector<JsonValue> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(JsonValue::parse(line));
  return lines;
}

TEST(Trainer, ARunDefinedInSamplesKeepsItsLengthAndScheduleWhenTheGlobalBatchChanges) {
  // 200 samples at 32 x dp per step, checkpoint after step 2, resumed at half the global batch
  // (accumulation 1 instead of 2: for the schedule the same as half the dp ranks).
  World& w = world();
  const std::string out = w.dir + "/by-samples";
  const std::uint64_t total = 200, dp = static_cast<std::uint64_t>(w.grid->layout().dp);
  const std::uint64_t first_batch = 32 * dp, second_batch = 16 * dp;
  const auto first = train(out, 0, false, 0, 2, total, 2);
  EXPECT_EQ(first.steps_done, (total + first_batch - 1) / first_batch);
  w.comm->barrier();
  if (w.comm->rank() == 0) {
    for (std::uint64_t step = 3; step <= first.steps_done; ++step) {
      if (std::filesystem::exists(CheckpointStore(out).step_dir(step)))
        testing::remove_tree(CheckpointStore(out).step_dir(step));
    }
  }
  w.comm->barrier();
  const auto resumed = train(out, 0, true, 0, 1, total, 0);
  EXPECT_EQ(resumed.resumed_from, 2u);
  const std::uint64_t left = total - 2 * first_batch;
  EXPECT_EQ(resumed.steps_done, 2 + (left + second_batch - 1) / second_batch);
  if (w.comm->rank() == 0) {
    const LrSchedule schedule{3e-3, 20, total, 0.1, "cosine"};
    const auto lines = metric_values(out);
    ASSERT_EQ(lines.size(), resumed.steps_done);
    std::uint64_t position = 0;
    for (const auto& line : lines) {
      const auto step = static_cast<std::uint64_t>(line["step"].as_int());
      const std::uint64_t batch = step <= 2 ? first_batch : second_batch;
      const double want = schedule.over(static_cast<double>(position), static_cast<double>(position + batch));
      EXPECT_DOUBLE_EQ(line["lr"].as_number(), want) << "step " << step;
      position += batch;
    }
    EXPECT_GE(position, total);
    EXPECT_LT(position - second_batch, total);  // no step more than the samples need
  }
}

// A weight tied into two places is updated once per step: the first AdamW step moves every
// element by the learning rate (m / sqrt(v) = ±1), a second update would move it by twice that.
class TiedClassifier : public Task {
 public:
  TiedClassifier() {
    torch::manual_seed(5);
    net_ = std::make_shared<torch::nn::Module>();
    in_ = net_->register_module("in", torch::nn::Linear(1600, 16));
    square_ = net_->register_module("square", torch::nn::Linear(16, 16));
    net_->register_module("tied", std::make_shared<torch::nn::Module>())
        ->register_parameter("weight", square_->weight);
    out_ = net_->register_module("out", torch::nn::Linear(16, 6));
  }
  torch::nn::Module& model() override { return *net_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    const auto [bytes, labels] = bytes_and_labels(batch);
    auto h = torch::tanh(
        square_->forward(torch::tanh(square_->forward(in_->forward(bytes.to(torch::kFloat) / 255.0)))));
    return {{"loss", torch::nn::functional::cross_entropy(out_->forward(h), labels.to(torch::kLong))}};
  }
  torch::Tensor tied() const { return square_->weight; }

 private:
  std::shared_ptr<torch::nn::Module> net_;
  torch::nn::Linear in_{nullptr}, square_{nullptr}, out_{nullptr};
};

TEST(Trainer, ATiedWeightIsUpdatedOncePerStep) {
  World& w = world();
  TiedClassifier task;
  ASSERT_EQ(task.model().named_parameters().size(), 7u);  // the tied weight under two names
  datasets::LoaderOptions lo;
  lo.corpus = w.dir + "/corpus";
  lo.dp_rank = w.grid->layout().dp_rank;
  lo.dp_size = w.grid->layout().dp;
  lo.batch_size = 16;
  datasets::Loader loader(lo);
  TrainerOptions o;
  o.out_dir = w.dir + "/tied";
  o.steps = 1;
  o.schedule = LrSchedule{1e-2, 0, 1, 1.0, "constant"};
  o.optimizer.weight_decay = 0;
  o.optimizer.clip_norm = 0;
  Trainer trainer(task, loader, nullptr, *w.grid, o);
  const auto before = task.tied().detach().clone();
  trainer.run();
  const double moved = (task.tied().detach() - before).abs().max().item<double>();
  EXPECT_NEAR(moved, 1e-2, 1e-4) << "the tied weight moved by " << moved << " in one step";
}

// Every dp rank evaluates its share of val with its own BatchNorm statistics; after a resume each
// rank must have its own statistics back, which dp rank 0's checkpoint can only hold when they
// are the same on every rank (the trainer averages them over dp at every step).
void train_with_eval(const std::string& out, std::uint64_t steps, bool resume) {
  World& w = world();
  ByteClassifier task(/*batch_norm=*/true);
  auto lo = [&](const std::string& split) {
    datasets::LoaderOptions o;
    o.corpus = w.dir + "/corpus";
    o.split = split;
    o.dp_rank = w.grid->layout().dp_rank;
    o.dp_size = w.grid->layout().dp;
    o.batch_size = 12;
    o.seed = 3;
    return o;
  };
  datasets::Loader train(lo("train")), val(lo("val"));
  TrainerOptions o;
  o.out_dir = out;
  o.steps = steps;
  o.log_every = 1;
  o.eval_every = 5;
  o.eval_batches = 3;
  o.schedule = LrSchedule{3e-3, 2, 20, 0.1, "cosine"};
  o.resume = resume;
  Trainer trainer(task, train, &val, *w.grid, o);
  trainer.run();
}

TEST(Trainer, ResumeRestoresPerRankBufferStatisticsSoEvaluationsMatch) {
  World& w = world();
  const std::string straight = w.dir + "/bn-straight", split = w.dir + "/bn-split";
  train_with_eval(straight, 20, false);
  train_with_eval(split, 10, false);
  train_with_eval(split, 20, true);
  if (w.comm->rank() == 0) {
    auto lines = [](const std::string& path) {
      std::ifstream in(path);
      std::vector<std::string> out;
      std::string line;
      while (std::getline(in, line)) out.push_back(line);
      return out;
    };
    const auto a = lines(straight + "/eval.jsonl"), b = lines(split + "/eval.jsonl");
    ASSERT_EQ(a.size(), 4u);
    ASSERT_EQ(b.size(), 4u);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "evaluation " << i + 1;
    const auto m = metric_lines(straight), n = metric_lines(split);
    ASSERT_EQ(m.size(), 20u);
    EXPECT_EQ(m, n);
  }
}

TEST(Trainer, ResumeSkipsACheckpointWithAFlippedByte) {
  World& w = world();
  const std::string out = w.dir + "/flipped";
  train(out, 10, false);
  train(out, 20, true);  // checkpoints at 10 and 20
  w.comm->barrier();
  if (w.comm->rank() == 0) {
    std::fstream f(CheckpointStore(out).step_dir(20) + "/rank-0.pt",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  w.comm->barrier();
  EXPECT_EQ(train(out, 25, true).resumed_from, 10u);
}

TEST(Trainer, AStepWithFewerSamplesThanRanksStaysFinite) {
  // 2 micro-batches of 16 per rank and step; 16 * dp + 1 samples leave the epoch's second
  // micro-batch one sample, so every rank but one has none: they train on a filler row weighed 0.
  World& w = world();
  const std::string out = w.dir + "/one-sample-left";
  const auto dp = static_cast<std::uint64_t>(w.grid->layout().dp);
  const auto result = train(out, 6, false, 16 * dp + 1);
  EXPECT_EQ(result.steps_done, 6u);
  EXPECT_EQ(result.skipped_steps, 0u)
      << "a step was skipped: a rank without samples made the loss non-finite";
  if (w.comm->rank() == 0) {
    const auto lines = metric_lines(out);
    ASSERT_EQ(lines.size(), 6u);
    for (const auto& line : lines) EXPECT_EQ(line.find("null"), std::string::npos) << line;
  }
}

// Each sample weighs 1 + its label: the loss of a micro-batch is the weighted mean of its
// samples' losses, and its "weight" the sum of their weights, so the whole step optimizes the
// weighted mean over the global batch however it is split into ranks and micro-batches.
class WeightedByteClassifier : public Task {
 public:
  WeightedByteClassifier() {
    torch::manual_seed(6);
    net_ = torch::nn::Sequential(torch::nn::Linear(1600, 16), torch::nn::Tanh(), torch::nn::Linear(16, 6));
  }
  torch::nn::Module& model() override { return *net_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    const auto [bytes, labels] = bytes_and_labels(batch);
    const auto target = labels.to(torch::kLong).clamp_min(0);
    const auto logits = net_->forward(bytes.to(torch::kFloat) / 255.0);
    const auto per_sample = torch::nn::functional::cross_entropy(
        logits, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    const auto w = (1 + target).to(torch::kFloat);
    return {{"loss", (per_sample * w).sum() / w.sum()}, {"weight", w.sum().to(torch::kDouble)}};
  }

 private:
  torch::nn::Sequential net_{nullptr};
};

// Trains `task` on `grid` (global batch 16 = dp x per_rank x accumulation) for 4 steps and
// returns its parameters, flattened.
torch::Tensor train_four_steps(Task& task, distributed::ProcessGrid& grid, std::size_t accumulation,
                               const std::string& out, const std::string& optimizer = "adamw",
                               bool zero = false) {
  datasets::LoaderOptions lo;
  lo.corpus = world().dir + "/corpus";
  lo.dp_rank = grid.layout().dp_rank;
  lo.dp_size = grid.layout().dp;
  lo.batch_size = 16 / grid.layout().dp / accumulation;
  lo.seed = 4;
  datasets::Loader loader(lo);
  TrainerOptions o;
  o.out_dir = out;
  o.steps = 4;
  o.accumulation = accumulation;
  o.schedule = LrSchedule{optimizer == "adamw" ? 1e-2 : 2e-1, 0, 4, 1.0, "constant"};
  o.optimizer.kind = optimizer;
  o.optimizer.zero = zero;
  o.optimizer.clip_norm = 0;
  Trainer(task, loader, nullptr, grid, o).run();
  std::vector<torch::Tensor> flat;
  for (const auto& p : task.model().parameters()) flat.push_back(p.detach().flatten());
  return torch::cat(flat);
}

torch::Tensor train_weighted(distributed::ProcessGrid& grid, std::size_t accumulation, const std::string& out,
                             const std::string& optimizer = "adamw", bool zero = false) {
  WeightedByteClassifier task;
  return train_four_steps(task, grid, accumulation, out, optimizer, zero);
}

torch::Tensor weighted_reference(std::size_t accumulation, const std::string& name,
                                 const std::string& optimizer) {
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  return train_weighted(grid, accumulation, world().dir + "/" + name, optimizer);
}

TEST(Trainer, TheTasksLossWeightAveragesExactlyOverRanksAndMicroBatches) {
  World& w = world();
  const auto one = weighted_reference(1, "weighted-1-" + std::to_string(w.comm->rank()), "adamw");
  const auto four = weighted_reference(4, "weighted-4-" + std::to_string(w.comm->rank()), "adamw");
  EXPECT_TRUE(torch::allclose(one, four, 1e-5, 1e-6)) << (one - four).abs().max().item<double>();
  if (w.comm->size() == 1) return;
  const auto dp = train_weighted(*w.grid, 2, w.dir + "/weighted-dp");
  EXPECT_TRUE(torch::allclose(one, dp, 1e-5, 1e-6)) << (one - dp).abs().max().item<double>();
}

// Two terms averaged over different examples (as Lens's MSP and POP): "ce" over every sample,
// "rare" over the samples whose label is 1 (few: many micro-batches hold none). With counted
// terms the step optimizes ce's mean over the global batch + 0.5 * rare's mean over the global
// batch's label-1 samples, however the batch is split; a per-micro-batch mean would weigh a
// micro-batch's single label-1 sample as much as the whole batch's.
class TwoCountedTerms : public WeightedByteClassifier {
 public:
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    const auto [bytes, labels] = bytes_and_labels(batch);
    const auto target = labels.to(torch::kLong).clamp_min(0);
    const auto logits = model().as<torch::nn::Sequential>()->forward(bytes.to(torch::kFloat) / 255.0);
    const auto per_sample = torch::nn::functional::cross_entropy(
        logits, target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    const auto rare = (target == 1).to(torch::kFloat);
    const auto ce = per_sample.mean();
    const auto rare_mean = (per_sample * rare).sum() / rare.sum().clamp_min(1.0);
    return {{"loss", ce + 0.5 * rare_mean},
            {"ce", ce},
            {"rare", rare_mean},
            {"rare_seen", rare.sum() / rare.sum().clamp_min(1.0)}};
  }
  std::map<std::string, double> loss_terms() const override { return {{"ce", 1.0}, {"rare", 0.5}}; }
  std::map<std::string, double> term_weights(const datasets::Batch& batch) override {
    const auto labels = bytes_and_labels(batch).second.to(torch::kLong);
    return {{"ce", static_cast<double>(batch.rows)}, {"rare", (labels == 1).sum().item<double>()}};
  }
};

torch::Tensor train_counted(distributed::ProcessGrid& grid, std::size_t accumulation,
                            const std::string& out) {
  TwoCountedTerms task;
  return train_four_steps(task, grid, accumulation, out);
}

TEST(Trainer, CountedTermsAverageOverTheirOwnExamplesAcrossRanksAndMicroBatches) {
  World& w = world();
  const std::string rank = std::to_string(w.comm->rank());
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid single(*alone, 1);
  const auto one = train_counted(single, 1, w.dir + "/counted-1-" + rank);
  const auto eight = train_counted(single, 8, w.dir + "/counted-8-" + rank);
  EXPECT_TRUE(torch::allclose(one, eight, 1e-5, 1e-6)) << (one - eight).abs().max().item<double>();
  // The logged terms are the global means too: "rare" over its own samples, and "rare_seen" (a
  // term named after a counted one: 1 in a micro-batch with a label-1 sample, else 0) likewise,
  // so it is exactly 1: micro-batches without a label-1 sample weigh nothing in it.
  if (w.comm->rank() == 0) {
    const auto a = metric_values(w.dir + "/counted-1-0").front(),
               b = metric_values(w.dir + "/counted-8-0").front();
    for (const char* name : {"loss", "ce", "rare"})
      EXPECT_NEAR(a[name].as_number(), b[name].as_number(), 1e-6) << name;
    EXPECT_DOUBLE_EQ(b["rare_seen"].as_number(), 1.0);
    EXPECT_NEAR(b["loss"].as_number(), b["ce"].as_number() + 0.5 * b["rare"].as_number(), 1e-9);
  }
  if (w.comm->size() == 1) return;
  const auto dp = train_counted(*w.grid, 2, w.dir + "/counted-dp");
  EXPECT_TRUE(torch::allclose(one, dp, 1e-5, 1e-6)) << (one - dp).abs().max().item<double>();
}

// A batch that carries no weight anywhere (a generation batch of one-packet flows) makes no
// update: the moments of earlier steps alone would otherwise still move the weights.
class WeightlessAfterTheFirstStep : public WeightedByteClassifier {
 public:
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    auto terms = WeightedByteClassifier::losses(batch);
    if (calls_++ > 0) terms["weight"] = torch::tensor(0.0, torch::kDouble);
    return terms;
  }

 private:
  int calls_ = 0;
};

TEST(Trainer, ABatchWithoutWeightMakesNoUpdate) {
  World& w = world();
  WeightlessAfterTheFirstStep task;
  datasets::LoaderOptions lo;
  lo.corpus = w.dir + "/corpus";
  lo.dp_rank = w.grid->layout().dp_rank;
  lo.dp_size = w.grid->layout().dp;
  lo.batch_size = 8;
  datasets::Loader loader(lo);
  TrainerOptions o;
  o.out_dir = w.dir + "/weightless";
  o.steps = 1;
  o.schedule = LrSchedule{1e-2, 0, 3, 1.0, "constant"};
  Trainer(task, loader, nullptr, *w.grid, o).run();
  std::vector<torch::Tensor> after_one;
  for (const auto& p : task.model().parameters()) after_one.push_back(p.detach().clone());
  o.steps = 3;
  o.resume = true;
  Trainer(task, loader, nullptr, *w.grid, o).run();  // two more steps, both weightless
  std::size_t i = 0;
  for (const auto& p : task.model().parameters()) EXPECT_TRUE(p.detach().equal(after_one[i++]));
}

TEST(Trainer, AdamWScaleStepsEachParameterByItsRms) {
  // One parameter, one step with a known gradient: AdamW's first step is lr * sign(g) (bias
  // corrected, eps aside); AdamWScale's is that times max(1e-3, RMS(p)); decay stays lr * wd.
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  auto p = torch::tensor({{3.0f, -4.0f}, {0.0f, 0.0f}}).requires_grad_(true);
  distributed::Reducer reducer({{"w", p}}, grid.dp(), {});
  OptimizerOptions options;
  options.kind = "adamw-scale";
  options.weight_decay = 0.1;
  options.clip_norm = 0;
  TrainerOptimizer optimizer(reducer, grid, {true}, {false}, options);
  p.mutable_grad() = torch::tensor({{1.0f, -1.0f}, {2.0f, 0.5f}});
  const double lr = 0.5, rms = std::sqrt((9.0 + 16.0) / 4.0);
  optimizer.step(lr, 0.0);
  const auto expected = torch::tensor({{3.0f, -4.0f}, {0.0f, 0.0f}}) * (1 - lr * 0.1) -
                        lr * rms * torch::tensor({{1.0f, -1.0f}, {1.0f, 1.0f}});
  EXPECT_TRUE(torch::allclose(p.detach(), expected, 1e-5, 1e-5)) << p << expected;
  options.kind = "adamw";
  EXPECT_THROW(check_optimizer_kind("adafactor"), std::invalid_argument);
}

TEST(Trainer, AdamWScaleUnderZeroEqualsPlainAdamWScale) {
  World& w = world();
  const auto plain = weighted_reference(1, "scale-plain-" + std::to_string(w.comm->rank()), "adamw-scale");
  const auto sharded = train_weighted(*w.grid, 1, w.dir + "/scale-zero", "adamw-scale", /*zero=*/true);
  EXPECT_TRUE(torch::allclose(plain, sharded, 1e-5, 1e-6)) << (plain - sharded).abs().max().item<double>();
}

}  // namespace
}  // namespace trafficfm::core
