// ZeRO-1 through the trainer, as `--parallel.zero 1` runs it (issue 21): a micro Lens (MSP only,
// whose loss does not depend on how a global batch is split over ranks) at dp 2, dp 4 and
// dp 2 x tp 2 follows plain AdamW at one rank; its optimizer state per rank at dp 4 is at most
// 30% of unsharded AdamW's; and a run resumed at dp 4 -> 2 -> 1, and at tp 2 -> 1, continues the
// uninterrupted curve. The global batch is 8 samples at every layout.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "core/json_value.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

struct Fixture {
  std::string dir, corpus, config;
  Fixture() {
    dir = make_temp_dir("zero_cli");
    make_synth_corpus(dir, {200, 6, "mmae"});  // the captures; the lens corpus below
    corpus = dir + "/lens";
    const auto r = run_command(trafficfm_binary() + " prep --input " + dir + "/captures --encoder lens " +
                               "--lens.max-tokens 64 --out " + corpus);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    config = dir + "/micro.ini";
    std::ofstream(config) << "model = lens\n[lens]\nd-model = 32\nd-kv = 8\nd-ff = 64\nheads = 4\n"
                             "encoder-layers = 1\ndecoder-layers = 1\npop = off\nhtp = off\n"
                             "[train]\nsamples = 96\nlr = 2e-3\nweight-decay = 0.1\nlog-every = 1\n"
                             "eval-batches = 1\nthreads = 1\n";
  }
  ~Fixture() { remove_tree(dir); }  // about 300 MB of runs: not left in the temp dir
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

// A run of 12 steps of 8 samples at `ranks` ranks (8 / dp per rank).
std::string run_at(int ranks, int tp, const std::string& run, const std::string& extra) {
  const int dp = ranks / tp;
  return (ranks > 1 ? mpirun(ranks) : std::string()) + trafficfm_binary() + " pretrain --config " +
         fixture().config + " --corpus " + fixture().corpus + " --out " + run + " --parallel.tp " +
         std::to_string(tp) + " --train.batch-size " + std::to_string(8 / dp) + " " + extra;
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> out;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    out.push_back(core::JsonValue::parse(line)["loss"].as_number());
  return out;
}

// Plain AdamW at one rank: the curve every layout follows.
const std::vector<double>& reference() {
  static const std::vector<double> curve = [] {
    const std::string run = fixture().dir + "/plain-1";
    const auto r = run_command(run_at(1, 1, run, ""));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return losses(run);
  }();
  return curve;
}

// Reduction orders differ across layouts: float32 sums of 8 samples' gradients in another
// grouping, over 12 AdamW steps.
void expect_follows_reference(const std::vector<double>& got, const std::string& what) {
  const auto& want = reference();
  ASSERT_EQ(got.size(), 12u) << what;
  ASSERT_EQ(want.size(), 12u);
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::abs(want[i])) << what << ", step " << i + 1;
}

TEST(ZeroCli, FollowsPlainAdamWAtDp2Dp4AndTp2WithAQuarterOfTheStateAtDp4) {
  for (const auto& [ranks, tp] : std::vector<std::pair<int, int>>{{2, 1}, {4, 1}, {4, 2}}) {
    const std::string run = fixture().dir + "/zero-" + std::to_string(ranks) + "-tp" + std::to_string(tp);
    const auto r = run_command(run_at(ranks, tp, run, "--parallel.zero 1"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_follows_reference(losses(run),
                             "ZeRO-1 at " + std::to_string(ranks) + " ranks, tp " + std::to_string(tp));
    if (ranks == 4 && tp == 1) {
      std::smatch m;
      ASSERT_TRUE(std::regex_search(r.output, m,
                                    std::regex("state (\\d+) bytes per rank \\(unsharded AdamW: (\\d+)\\)")))
          << r.output;
      const double sharded = std::stod(m[1]), unsharded = std::stod(m[2]);
      std::printf("ZeRO-1 at dp 4: optimizer state %.0f bytes per rank, unsharded %.0f (%.1f%%)\n", sharded,
                  unsharded, 100 * sharded / unsharded);
      EXPECT_LE(sharded, 0.30 * unsharded);
    }
  }
}

TEST(ZeroCli, ResumedAtDp4Then2Then1AndAtTp2Then1ContinuesTheCurve) {
  // dp 4 to step 4, dp 2 to step 8, dp 1 to the end: each resume from the previous layout's
  // checkpoint (the later ones deleted, as if the job had died right after it).
  const std::string run = fixture().dir + "/reshard";
  const std::string every4 = "--parallel.zero 1 --train.ckpt-every 4 --resume auto";
  auto r = run_command(run_at(4, 1, run, every4));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  remove_tree(run + "/checkpoints/step-00000008");
  remove_tree(run + "/checkpoints/step-00000012");
  r = run_command(run_at(2, 1, run, every4));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from"), std::string::npos) << r.output;
  remove_tree(run + "/checkpoints/step-00000012");
  r = run_command(run_at(1, 1, run, every4));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_follows_reference(losses(run), "dp 4 -> 2 -> 1");

  const std::string tp_run = fixture().dir + "/tp-reshard";
  r = run_command(run_at(2, 2, tp_run, "--parallel.zero 1 --train.ckpt-every 6 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  remove_tree(tp_run + "/checkpoints/step-00000012");
  r = run_command(run_at(1, 1, tp_run, "--parallel.zero 1 --train.ckpt-every 6 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from " + tp_run + "/checkpoints/step-00000006"), std::string::npos)
      << r.output;
  expect_follows_reference(losses(tp_run), "tp 2 -> 1");
}

}  // namespace
}  // namespace trafficfm::testing
