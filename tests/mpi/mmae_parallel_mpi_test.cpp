// MMAE under data and tensor parallelism, on 2 ranks against a single-rank reference computed
// on rank 0 alone (a local communicator):
//  - tp 2 follows the single-rank loss curve (same batch on both tp ranks, per-sample masks);
//  - dp 2 (half batch each) follows it exactly without FlowMix, and with FlowMix within a
//    stated tolerance (flows are paired inside each rank's half batch, so pairs differ);
//  - a checkpoint written at tp 2 loads at tp 1 with the same forward outputs, and the reverse.
#include <gtest/gtest.h>
#include <mpi.h>

#include <fstream>

#include "core/json_value.h"
#include "core/trainer/trainer.h"
#include "models/mmae/mmae_task.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

constexpr std::uint64_t kSteps = 6;
constexpr std::size_t kBatch = 16;

MmaeConfig micro(bool flowmix) {
  MmaeConfig c;
  c.dim = 32;
  c.depth = 2;
  c.heads = 2;
  c.decoder_dim = 16;
  c.decoder_depth = 1;
  c.decoder_heads = 2;
  c.drop_path = 0.1;
  c.rank_pairs = 50;
  c.hard_mask_start = 0.3;  // guided masks start within the run
  c.flowmix = flowmix;
  return c;
}

struct Shared {
  std::unique_ptr<distributed::Communicator> world = distributed::make_mpi_world_communicator();
  std::unique_ptr<distributed::Communicator> alone = distributed::make_local_communicator();
  std::string dir;
  bool owner = false;  // rank 0 made dir and removes it at exit (every rank is past MPI_Finalize)
  Shared() {
    owner = world->rank() == 0;
    if (owner) {
      dir = testing::make_temp_dir("mmae_parallel");
      testing::make_synth_corpus(dir, {300, 4});
    }
    int length = static_cast<int>(dir.size());
    MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(length);
    MPI_Bcast(dir.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
  }
  ~Shared() {
    if (owner) testing::remove_tree(dir);
  }
};
Shared& shared() {
  static Shared s;
  return s;
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> out;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(core::JsonValue::parse(line)["loss"].as_number());
  return out;
}

// Trains kSteps on `grid` (global batch kBatch) into `run`; returns rank 0's loss curve.
std::vector<double> train(distributed::ProcessGrid& grid, const MmaeConfig& config, const std::string& run,
                          bool resume = false, std::unique_ptr<MmaeTask>* keep = nullptr) {
  auto task = std::make_unique<MmaeTask>(config, grid, resume ? 99 : 7, torch::kCPU);
  datasets::LoaderOptions lo;
  lo.corpus = shared().dir + "/corpus";
  lo.dp_rank = grid.layout().dp_rank;
  lo.dp_size = grid.layout().dp;
  lo.batch_size = kBatch / grid.layout().dp;
  lo.seed = 5;
  datasets::Loader loader(lo);
  core::TrainerOptions o;
  o.out_dir = run;
  o.steps = kSteps;
  o.log_every = 1;
  o.schedule = core::LrSchedule{2e-3, 1, kSteps, 0.1, "cosine"};
  o.resume = resume;
  core::Trainer(*task, loader, nullptr, grid, o).run();
  if (keep) *keep = std::move(task);
  return grid.layout().rank == 0 ? losses(run) : std::vector<double>{};
}

std::vector<double> reference(const MmaeConfig& config, const std::string& name) {
  std::vector<double> curve;
  if (shared().world->rank() == 0) {
    distributed::ProcessGrid alone(*shared().alone, 1);
    curve = train(alone, config, shared().dir + "/" + name);
  }
  shared().world->barrier();
  return curve;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tolerance) {
  if (shared().world->rank() != 0) return;
  ASSERT_EQ(a.size(), kSteps);
  ASSERT_EQ(b.size(), kSteps);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::abs(b[i]));
    EXPECT_NEAR(a[i], b[i], tolerance * std::abs(b[i])) << "step " << i + 1;
  }
  std::printf("[ curve ] worst relative difference %.3g over %zu steps\n", worst, a.size());
  EXPECT_NE(b.front(), b.back());  // it trained
}

TEST(MmaeParallel, TensorParallelFollowsTheSingleRankCurve) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  const auto ref = reference(micro(true), "ref_flowmix");
  distributed::ProcessGrid grid(*shared().world, 2);
  expect_close(train(grid, micro(true), shared().dir + "/tp2"), ref, 1e-4);
}

TEST(MmaeParallel, DataParallelFollowsTheSingleRankCurve) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  distributed::ProcessGrid grid(*shared().world, 1);
  // Without FlowMix every sample's computation is independent of its batch neighbours.
  expect_close(train(grid, micro(false), shared().dir + "/dp2"), reference(micro(false), "ref_plain"), 1e-4);
  // With FlowMix a flow's partner is chosen within its rank's half batch.
  expect_close(train(grid, micro(true), shared().dir + "/dp2_flowmix"),
               reference(micro(true), "ref_flowmix2"), 0.05);
}

torch::Tensor forward_on_fixed_batch(MmaeTask& task) {
  datasets::LoaderOptions lo;
  lo.corpus = shared().dir + "/corpus";
  lo.split = "val";
  lo.batch_size = 8;
  datasets::Loader loader(lo);
  auto in = mmae_inputs(loader.next(), token_packet_index("1d"), 1, torch::kCPU);
  // In float64, so what is compared is the loaded weights, not float32 summation order
  // (tp sums partial products across ranks).
  in.payload = in.payload.to(torch::kDouble);
  in.signals = in.signals.to(torch::kDouble);
  torch::NoGradGuard no_grad;
  task.student().to(torch::kDouble);
  task.student().eval();
  const auto out = task.student().clean(in);
  return torch::cat({out.reconstruction.flatten(), out.predicted_loss.flatten()});
}

void expect_reload_matches(int save_tp, int load_tp, const std::string& name) {
  const std::string run = shared().dir + "/" + name;
  distributed::ProcessGrid saver(*shared().world, save_tp), loader(*shared().world, load_tp);
  std::unique_ptr<MmaeTask> saved, loaded;
  train(saver, micro(true), run, false, &saved);
  train(loader, micro(true), run, true, &loaded);  // resume: restores step kSteps, trains no more
  const auto a = forward_on_fixed_batch(*saved), b = forward_on_fixed_batch(*loaded);
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6)) << "max difference " << (a - b).abs().max().item<double>();
}

TEST(MmaeParallel, CheckpointAtTp2LoadsAtTp1) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  expect_reload_matches(2, 1, "reshard_2_1");
}

TEST(MmaeParallel, CheckpointAtTp1LoadsAtTp2) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  expect_reload_matches(1, 2, "reshard_1_2");
}

}  // namespace
}  // namespace trafficfm::models
