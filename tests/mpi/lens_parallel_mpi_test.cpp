// Lens pretraining under data and tensor parallelism against a single-rank reference computed
// on rank 0 alone (a local communicator), on a synthetic lens corpus:
//  - np 2: tp 2 follows the single-rank curve of every term (same batch on both tp ranks);
//    dp 2 (half batch each) follows it with MSP and POP (each a mean over its own examples of
//    the global batch), and with HTP on too within a stated tolerance (HTP's negative pairs
//    are drawn inside each rank's half batch);
//  - np 4: dp 2 x tp 2 with ZeRO-1 and AdamWScale follows the single-rank curve;
//  - a checkpoint written at tp 2 (vocabulary padded to 65,792 rows) loads at tp 1 (65,664)
//    with the same logits, and the reverse.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <fstream>
#include <set>

#include "core/json_value.h"
#include "core/trainer/trainer.h"
#include "distributed/tensor_parallel_state.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_task.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

constexpr std::uint64_t kSteps = 5;
constexpr std::size_t kBatch = 16;

LensSettings micro(bool pop, bool htp) {
  LensSettings s;
  LensConfig& c = s.model;
  c.vocab = 65642;
  c.d_model = 32;
  c.d_kv = 8;
  c.heads = 4;
  c.d_ff = 64;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  s.objective.pop = pop;
  s.objective.htp = htp;
  s.objective.pop_share = 0.3;  // more POP and HTP samples in a small batch than the paper's
  s.objective.htp_share = 0.5;
  return s;
}

struct Shared {
  std::unique_ptr<distributed::Communicator> world = distributed::make_mpi_world_communicator();
  std::unique_ptr<distributed::Communicator> alone = distributed::make_local_communicator();
  std::string dir;
  bool owner = false;  // rank 0 made dir and removes it at exit (every rank is past MPI_Finalize)
  Shared() {
    owner = world->rank() == 0;
    if (owner) {
      dir = testing::make_temp_dir("lens_parallel");
      testing::CorpusSpec spec;
      spec.flows = 300;
      spec.encoder = "lens";
      spec.max_tokens = 96;
      testing::make_synth_corpus(dir, spec);
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

using Curve = std::vector<std::map<std::string, double>>;

Curve curve_of(const std::string& run) {
  Curve out;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto json = core::JsonValue::parse(line);
    std::map<std::string, double> terms;
    for (const char* name : {"loss", "msp", "pop", "htp"}) {
      if (json.has(name)) terms[name] = json[name].as_number();
    }
    out.push_back(terms);
  }
  return out;
}

struct Recipe {
  std::string optimizer = "adamw";
  bool zero = false;
};

Curve train(distributed::ProcessGrid& grid, const LensSettings& settings, const std::string& run,
            Recipe how = {}, bool resume = false, std::unique_ptr<LensTask>* keep = nullptr) {
  auto task = std::make_unique<LensTask>(settings, grid, resume ? 99 : 7, torch::kCPU);
  datasets::LoaderOptions lo;
  lo.corpus = shared().dir + "/corpus";
  lo.dp_rank = grid.layout().dp_rank;
  lo.dp_size = grid.layout().dp;
  lo.batch_size = kBatch / grid.layout().dp;
  lo.seed = 5;
  lo.columns = lens_columns();
  datasets::Loader loader(lo);
  core::TrainerOptions o;
  o.out_dir = run;
  o.steps = kSteps;
  o.log_every = 1;
  o.schedule = core::LrSchedule{how.optimizer == "adamw" ? 3e-3 : 2e-2, 1, kSteps, 0.1, "cosine"};
  o.optimizer.kind = how.optimizer;
  o.optimizer.zero = how.zero;
  o.resume = resume;
  core::Trainer(*task, loader, nullptr, grid, o).run();
  if (keep) *keep = std::move(task);
  return grid.layout().rank == 0 ? curve_of(run) : Curve{};
}

Curve reference(const LensSettings& settings, const std::string& name, Recipe how = {}) {
  Curve curve;
  if (shared().world->rank() == 0) {
    distributed::ProcessGrid alone(*shared().alone, 1);
    curve = train(alone, settings, shared().dir + "/" + name, how);
  }
  shared().world->barrier();
  return curve;
}

// `skip`: terms compared by nobody (see DataParallelFollowsTheSingleRankCurve).
void expect_close(const Curve& a, const Curve& b, double tolerance, const std::set<std::string>& skip = {}) {
  if (shared().world->rank() != 0) return;
  ASSERT_EQ(a.size(), kSteps);
  ASSERT_EQ(b.size(), kSteps);
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    for (const auto& [name, value] : b[i]) {
      if (skip.count(name)) continue;
      const double got = a[i].at(name);
      worst = std::max(worst, std::abs(got - value) / std::max(std::abs(value), 1e-3));
      EXPECT_NEAR(got, value, tolerance * std::max(std::abs(value), 1e-3)) << name << " at step " << i + 1;
    }
  }
  std::printf("[ curve ] worst relative difference %.3g over %zu steps, %zu terms\n", worst, a.size(),
              b.front().size());
  EXPECT_NE(b.front().at("loss"), b.back().at("loss"));  // it trained
}

TEST(LensParallel, TensorParallelFollowsTheSingleRankCurveOfEveryTerm) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  const auto ref = reference(micro(true, true), "ref_all");
  distributed::ProcessGrid grid(*shared().world, 2);
  expect_close(train(grid, micro(true, true), shared().dir + "/tp2"), ref, 1e-4);
}

// Dropout's masks belong to samples and are drawn at full width (models/lens/t5_dropout.h), so
// tp 2 drops what tp 1 drops and follows its curve as closely as without dropout.
TEST(LensParallel, TensorParallelWithDropoutFollowsTheSingleRankCurve) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  auto settings = micro(true, true);
  settings.model.dropout = 0.1;
  const auto ref = reference(settings, "ref_dropout");
  distributed::ProcessGrid grid(*shared().world, 2);
  expect_close(train(grid, settings, shared().dir + "/tp2_dropout"), ref, 1e-4);
  // Dropout changed the curve (so the comparison above could fail).
  const auto plain = reference(micro(true, true), "ref_without_dropout");
  if (shared().world->rank() == 0) {
    EXPECT_NE(plain.back().at("loss"), ref.back().at("loss"));
  }
}

TEST(LensParallel, DataParallelFollowsTheSingleRankCurve) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  distributed::ProcessGrid grid(*shared().world, 1);
  // MSP alone: every target token weighs the same however the batch is split.
  expect_close(train(grid, micro(false, false), shared().dir + "/dp2_msp"),
               reference(micro(false, false), "ref_msp"), 1e-4);
  // MSP + POP: POP is a mean over the global batch's POP packets (counted before the step's
  // forward passes, Task::loss_terms), though a rank's half batch may hold none of them.
  expect_close(train(grid, micro(true, false), shared().dir + "/dp2_pop"),
               reference(micro(true, false), "ref_pop"), 1e-4);
  // HTP on too: HTP pairs its negatives within each rank's share, so an HTP sample's input (and
  // its MSP tokens) can differ from the single-rank one; the curve follows within 5%, HTP
  // itself not compared. POP samples are never HTP samples: at step 1 (the same weights) POP
  // is the single-rank one.
  const Curve all = train(grid, micro(true, true), shared().dir + "/dp2_all");
  const Curve ref = reference(micro(true, true), "ref_all2");
  expect_close(all, ref, 0.05, {"htp"});
  if (shared().world->rank() == 0) {
    EXPECT_NEAR(all.front().at("pop"), ref.front().at("pop"), 1e-5 * ref.front().at("pop"));
    for (const auto& step : all) EXPECT_TRUE(std::isfinite(step.at("htp")));
  }
}

TEST(LensParallel, DataTimesTensorParallelWithZeroAndAdamWScaleFollowsTheSingleRankCurve) {
  if (shared().world->size() != 4) GTEST_SKIP() << "needs 4 ranks";
  Recipe how{"adamw-scale", true};
  const auto ref = reference(micro(false, false), "ref_scale", {"adamw-scale", false});
  distributed::ProcessGrid grid(*shared().world, 2);
  expect_close(train(grid, micro(false, false), shared().dir + "/dp2tp2", how), ref, 1e-4);
}

torch::Tensor logits_on_fixed_batch(LensTask& task) {
  datasets::LoaderOptions lo;
  lo.corpus = shared().dir + "/corpus";
  lo.split = "val";
  lo.batch_size = 4;
  lo.columns = lens_columns();
  datasets::Loader loader(lo);
  const auto ex = lens_examples(loader.next(), micro(true, true).objective, 1, torch::kCPU);
  torch::NoGradGuard no_grad;
  auto& model = task.network();
  model.eval();
  const auto logits = model.forward(ex.input, ex.decoder_input);
  // The real vocabulary's columns, whole (tp ranks hold slices of the padded one).
  auto full = distributed::gather_full(logits, logits.dim() - 1, model.tp);
  return full.narrow(-1, 0, model.config.vocab);
}

void expect_reload_matches(int save_tp, int load_tp, const std::string& name) {
  const std::string run = shared().dir + "/" + name;
  distributed::ProcessGrid saver(*shared().world, save_tp), loader(*shared().world, load_tp);
  std::unique_ptr<LensTask> saved, loaded;
  train(saver, micro(true, true), run, {}, false, &saved);
  train(loader, micro(true, true), run, {}, true, &loaded);  // resume: restores step kSteps, trains no more
  const auto a = logits_on_fixed_batch(*saved), b = logits_on_fixed_batch(*loaded);
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-4)) << "max difference " << (a - b).abs().max().item<double>();
}

TEST(LensParallel, CheckpointAtTp2LoadsAtTp1) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  expect_reload_matches(2, 1, "reshard_2_1");
}

TEST(LensParallel, CheckpointAtTp1LoadsAtTp2) {
  if (shared().world->size() != 2) GTEST_SKIP() << "needs 2 ranks";
  expect_reload_matches(1, 2, "reshard_1_2");
}

}  // namespace
}  // namespace trafficfm::models
