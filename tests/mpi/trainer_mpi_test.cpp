// The trainer on 1 and 2 ranks with a small test model: 40 steps straight equal 20 steps,
// stop, resume from the checkpoint, 20 more (every logged loss identical, bitwise); a damaged
// newest checkpoint is skipped by hash and resume takes the one before.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>

#include "core/checkpoint_store.h"
#include "core/trainer/trainer.h"
#include "distributed/communicator.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::core {
namespace {

// Byte classifier over the mmae encoding: the smallest Task that trains on a real corpus.
class ByteClassifier : public Task {
 public:
  ByteClassifier() {
    torch::manual_seed(5);
    net_ = torch::nn::Sequential(torch::nn::Linear(1600, 32), torch::nn::ReLU(), torch::nn::Dropout(0.1),
                                 torch::nn::Linear(32, 6));
  }
  torch::nn::Module& model() override { return *net_; }
  std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) override {
    const auto n = static_cast<std::int64_t>(batch.rows);
    auto bytes = torch::from_blob(const_cast<std::uint8_t*>(batch.column<std::uint8_t>("bytes")), {n, 1600}, torch::kUInt8);
    auto labels = torch::from_blob(const_cast<std::int32_t*>(batch.column<std::int32_t>("label")), {n}, torch::kInt32);
    auto logits = net_->forward(bytes.to(torch::kFloat) / 255.0);
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

// `samples` > 0: train on the split's first `samples` samples only.
TrainResult train(const std::string& out, std::uint64_t steps, bool resume, std::uint64_t samples = 0) {
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
  o.schedule = LrSchedule{3e-3, 5, 40, 0.1, "cosine"};
  o.resume = resume;
  o.accumulation = 2;
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

TEST(Trainer, ResumeSkipsACheckpointWithAFlippedByte) {
  World& w = world();
  const std::string out = w.dir + "/flipped";
  train(out, 10, false);
  train(out, 20, true);  // checkpoints at 10 and 20
  w.comm->barrier();
  if (w.comm->rank() == 0) {
    std::fstream f(CheckpointStore(out).step_dir(20) + "/rank-0.pt", std::ios::in | std::ios::out | std::ios::binary);
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
  EXPECT_EQ(result.skipped_steps, 0u) << "a step was skipped: a rank without samples made the loss non-finite";
  if (w.comm->rank() == 0) {
    const auto lines = metric_lines(out);
    ASSERT_EQ(lines.size(), 6u);
    for (const auto& line : lines) EXPECT_EQ(line.find("null"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace trafficfm::core
