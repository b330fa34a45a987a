// Sharded checkpoints (format 2, core/trainer/checkpoint_parts.h) through the CLI: every rank
// writes its own parts; a rank resuming at the same layout reads only its own parts (its tp
// rank's model part, its optimizer part, trainer.json and its RNG states); a format 1
// checkpoint (whole tensors in model.pt and optim.pt) still resumes, bitwise.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/json_value.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  std::string dir, corpus, config;
  Fixture() {
    dir = make_temp_dir("checkpoint_cli");
    corpus = make_synth_corpus(dir, {200, 7});
    config = dir + "/micro.ini";
    std::ofstream(config)
        << "model = mmae\n[mmae]\ndim = 32\ndepth = 1\nheads = 2\ndecoder-dim = 16\n"
           "decoder-depth = 1\ndecoder-heads = 2\nrank-pairs = 50\n"
           "[train]\nbatch-size = 4\nlr = 2e-3\nlog-every = 1\neval-batches = 1\nthreads = 1\n";
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

std::string pretrain(int ranks, const std::string& run, const std::string& extra) {
  return (ranks > 1 ? mpirun(ranks) : std::string()) + trafficfm_binary() + " pretrain --config " +
         fixture().config + " --corpus " + fixture().corpus + " --out " + run + " " + extra;
}

TEST(CheckpointCli, EveryRankWritesItsPartsAndReadsOnlyItsOwnAtTheSameLayout) {
  const std::string run = fixture().dir + "/sharded";
  const std::string options =
      "--train.steps 8 --train.ckpt-every 4 --parallel.tp 2 --parallel.zero 1 --resume auto";
  auto r = run_command(pretrain(4, run, options));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string step4 = run + "/checkpoints/step-00000004";
  std::set<std::string> parts;
  for (const auto& entry : fs::directory_iterator(step4)) parts.insert(entry.path().filename().string());
  EXPECT_EQ(parts,
            (std::set<std::string>{"COMMIT", "meta.json", "model-tp0.pt", "model-tp1.pt", "optim-dp0-tp0.pt",
                                   "optim-dp0-tp1.pt", "optim-dp1-tp0.pt", "optim-dp1-tp1.pt", "trainer.json",
                                   "rank-0.pt", "rank-1.pt", "rank-2.pt", "rank-3.pt"}));
  const auto meta = core::JsonValue::parse(read_text_file(step4 + "/meta.json"));
  EXPECT_EQ(meta["format"].as_int(), 2);
  EXPECT_GT(meta["zero_buckets"].as_array().size(), 0u);
  // Resumed at the same layout from step 4, each rank logs the parts it reads.
  remove_tree(run + "/checkpoints/step-00000008");
  r = run_command(pretrain(4, run, options + " --log.level debug --log.all-ranks"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int rank = 0; rank < 4; ++rank) {
    const int dp = rank / 2, tp = rank % 2;  // tp ranks are contiguous
    const std::string log = read_text_file(run + "/log/rank-" + std::to_string(rank) + ".log");
    std::set<std::string> read;
    const std::regex line("resume: reading \\S+/step-00000004/(\\S+)");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it)
      read.insert((*it)[1]);
    EXPECT_EQ(read,
              (std::set<std::string>{"model-tp" + std::to_string(tp) + ".pt",
                                     "optim-dp" + std::to_string(dp) + "-tp" + std::to_string(tp) + ".pt",
                                     "trainer.json", "rank-" + std::to_string(rank) + ".pt"}))
        << "rank " << rank;
  }
}

// A format 1 checkpoint, as earlier builds wrote it: whole tensors in model.pt and optim.pt (at
// tp 1 and a model without a padded vocabulary, format 2's only parts hold exactly those).
TEST(CheckpointCli, AFormatOneCheckpointStillResumesBitwise) {
  const std::string straight = fixture().dir + "/straight", old = fixture().dir + "/old";
  auto r = run_command(pretrain(1, straight, "--train.steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(pretrain(1, old, "--train.steps 8 --train.ckpt-every 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  remove_tree(old + "/checkpoints/step-00000008");
  const std::string step4 = old + "/checkpoints/step-00000004";
  fs::rename(step4 + "/model-tp0.pt", step4 + "/model.pt");
  fs::rename(step4 + "/optim-tp0.pt", step4 + "/optim.pt");
  std::string meta = read_text_file(step4 + "/meta.json");
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"\"model-tp0.pt\"", "\"model.pt\""},
                                                        {"\"optim-tp0.pt\"", "\"optim.pt\""},
                                                        {"\"format\": 2, ", ""}})
    meta = std::regex_replace(meta, std::regex(from), to);
  std::ofstream(step4 + "/meta.json") << meta;
  r = run_command(pretrain(1, old, "--train.steps 8 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from " + step4), std::string::npos) << r.output;
  EXPECT_EQ(metric_prefixes(old), metric_prefixes(straight));
}

}  // namespace
}  // namespace trafficfm::testing
