// `trafficfm pretrain` and `export` as users and Slurm meet them, on a micro MMAE over a synth
// corpus: exact resume through the CLI on 1 and 2 ranks, SIGTERM to one rank of two, a rank
// killed (-9) while a checkpoint is being written, sharded checkpoints (each rank writes its own
// parts and, at the same layout, reads only its own; a format 1 checkpoint still resumes), and
// the exported model.pt read by Python.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/json_value.h"
#include "core/lr_schedule.h"
#include "core/stop_signals.h"
#include "distributed/communicator.h"
#include "models/mmae/mmae_model.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  std::string dir, corpus, config;
  ~Fixture() { remove_tree(dir); }  // at exit: nothing left in the temp dir
  Fixture() {
    dir = make_temp_dir("pretrain_cli");
    corpus = make_synth_corpus(dir, {300, 4});
    config = dir + "/micro.ini";
    std::ofstream(config)
        << "model = mmae\n[mmae]\ndim = 32\ndepth = 2\nheads = 2\ndecoder-dim = 16\n"
           "decoder-depth = 1\ndecoder-heads = 2\nrank-pairs = 50\nhard-mask-start = 0.3\n"
           "[train]\nbatch-size = 8\nlr = 2e-3\nlog-every = 1\neval-batches = 2\nthreads = 1\n";
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

std::string pretrain(const std::string& run, const std::string& extra) {
  return trafficfm_binary() + " pretrain --config " + fixture().config + " --corpus " + fixture().corpus +
         " --out " + run + " " + extra;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Evaluations at steps 4, 8 and 12: the last two come after the resume, with the FlowMix
// statistics encoder's BatchNorm running statistics restored on every dp rank (they are kept
// equal across ranks, so dp rank 0's checkpoint holds them all).
void expect_resume_identical(int ranks) {
  const std::string base = fixture().dir + "/resume" + std::to_string(ranks);
  const std::string launcher = ranks > 1 ? mpirun(ranks) : "";
  auto r = run_command(launcher + pretrain(base + "-straight", "--train.steps 12 --train.eval-every 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(launcher +
                  pretrain(base + "-split", "--train.steps 12 --train.eval-every 4 --train.ckpt-every 6"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // As if the run had died after step 11: only the step-6 checkpoint is left, metrics.jsonl
  // has lines up to step 12 (the resumed run must drop steps 7-12 and redo them).
  remove_tree(base + "-split/checkpoints/step-00000012");
  r = run_command(launcher +
                  pretrain(base + "-split", "--train.steps 12 --train.eval-every 4 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from"), std::string::npos) << r.output;
  const auto a = metric_prefixes(base + "-straight"), b = metric_prefixes(base + "-split");
  ASSERT_EQ(a.size(), 12u);
  ASSERT_EQ(b.size(), 12u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
  const auto eval_a = lines_of(base + "-straight/eval.jsonl"), eval_b = lines_of(base + "-split/eval.jsonl");
  ASSERT_EQ(eval_a.size(), 3u);
  ASSERT_EQ(eval_b.size(), 3u);
  for (std::size_t i = 0; i < eval_a.size(); ++i) EXPECT_EQ(eval_a[i], eval_b[i]) << "evaluation " << i + 1;
}

TEST(PretrainCli, ResumeIsBitwiseIdenticalOnOneRank) { expect_resume_identical(1); }
TEST(PretrainCli, ResumeIsBitwiseIdenticalOnTwoRanks) { expect_resume_identical(2); }

// --train.lr is the rate at a global batch of --train.lr-batch; the run's peak follows its own
// global batch (dp x batch-size x accumulation), so changing dp keeps the rule.
TEST(PretrainCli, LearningRateScalesWithTheGlobalBatchWhenLrBatchIsSet) {
  for (int ranks : {1, 2}) {
    const std::string run = fixture().dir + "/lr-batch" + std::to_string(ranks);
    const auto r =
        run_command((ranks > 1 ? mpirun(ranks) : std::string()) +
                    pretrain(run,
                             "--train.steps 1 --train.warmup 0 --train.decay constant --train.lr 1e-3 "
                             "--train.lr-batch 8 --train.batch-size 8"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto line = core::JsonValue::parse(read_text_file(run + "/metrics.jsonl"));
    EXPECT_DOUBLE_EQ(line["lr"].as_number(), 1e-3 * ranks) << "dp " << ranks;
  }
}

// A run defined in samples, stopped after step 2 at dp 2 and resumed at dp 1: it still ends after
// its samples (more, smaller steps), and every step's rate is the schedule at its position in
// samples, as the original run fixed it.
TEST(PretrainCli, ResumeAtAnotherDpKeepsASampleDefinedRunsLengthAndSchedule) {
  const std::string run = fixture().dir + "/samples-dp";
  const std::string common =
      "--train.samples 120 --train.batch-size 8 --train.warmup 0.2 --train.keep-last 10";
  auto r = run_command(mpirun(2) + pretrain(run, common + " --train.ckpt-every 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (int step = 3; step <= 8; ++step) {
    char name[32];
    std::snprintf(name, sizeof name, "/checkpoints/step-%08d", step);
    if (fs::exists(run + name)) remove_tree(run + name);
  }
  r = run_command(pretrain(run, common + " --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("88 samples left at 8 per step: 13 steps in all"), std::string::npos) << r.output;
  const core::LrSchedule schedule{2e-3, 24, 120, 0.1, "cosine"};
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  std::uint64_t position = 0, steps = 0;
  while (std::getline(in, line)) {
    const auto values = core::JsonValue::parse(line);
    const std::uint64_t batch = ++steps <= 2 ? 16 : 8;  // dp 2 x 8, then dp 1 x 8
    EXPECT_EQ(values["step"].as_int(), static_cast<std::int64_t>(steps));
    EXPECT_DOUBLE_EQ(values["lr"].as_number(), schedule.over(position, position + batch)) << "step " << steps;
    position += batch;
  }
  EXPECT_EQ(steps, 13u);
  EXPECT_EQ(position, 120u);
}

TEST(PretrainCli, SigtermToOneRankStopsBothAtOneStepWithACheckpoint) {
  const std::string run = fixture().dir + "/sigterm";
  // Start 2 ranks, wait for 3 logged steps, SIGTERM the first rank process only.
  const std::string script = mpirun(2) + pretrain(run, "--train.steps 100000") + " > " + run +
                             ".out 2>&1 & launcher=$!\n" + "for i in $(seq 600); do [ \"$(wc -l < " + run +
                             "/metrics.jsonl 2>/dev/null || echo 0)\" -ge 3 ] && break; sleep 0.1; done\n"
                             "rank=$(pgrep -P $launcher | head -1)\n"
                             "kill -TERM $rank\n"
                             "wait $launcher; echo \"exit=$?\"\n";
  std::ofstream(run + ".sh") << script;
  const auto r = run_command("bash " + run + ".sh");
  EXPECT_NE(r.output.find("exit=" + std::to_string(core::kExitRequeue)), std::string::npos) << r.output;
  // Both ranks logged the stop at the same step, and that step's checkpoint is committed.
  std::set<std::string> steps;
  const std::regex stop("stop requested \\(signal 15\\) at step ([0-9]+)");
  for (int rank = 0; rank < 2; ++rank) {
    const std::string log = read_text_file(run + "/log/rank-" + std::to_string(rank) + ".log");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(log, m, stop)) << log;
    steps.insert(m[1]);
  }
  ASSERT_EQ(steps.size(), 1u);
  char name[32];
  std::snprintf(name, sizeof name, "step-%08d", std::stoi(*steps.begin()));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/" + name + "/COMMIT"));
}

TEST(PretrainCli, RankKilledWhileCheckpointingLeavesThePreviousOneToResume) {
  const std::string run = fixture().dir + "/kill9";
  auto r = run_command("TRAFFICFM_FAULT_KILL_IN_CHECKPOINT=1:8 " + mpirun(2) +
                       pretrain(run, "--train.steps 12 --train.ckpt-every 4"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-00000004/COMMIT"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-00000008/model-tp0.pt"));  // written by rank 0 ...
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-00000008/COMMIT"));       // ... never committed
  r = run_command(mpirun(2) + pretrain(run, "--train.steps 12 --train.ckpt-every 4 --resume auto"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("step-00000008: no COMMIT marker"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("continuing from " + run + "/checkpoints/step-00000004"), std::string::npos)
      << r.output;
}

// Sharded checkpoints (format 2, core/trainer/checkpoint_parts.h).
TEST(PretrainCli, EveryRankWritesItsPartsAndReadsOnlyItsOwnAtTheSameLayout) {
  const std::string run = fixture().dir + "/sharded";
  const std::string options =
      "--train.steps 8 --train.ckpt-every 4 --parallel.tp 2 --parallel.zero 1 --resume auto";
  auto r = run_command(mpirun(4) + pretrain(run, options));
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
  r = run_command(mpirun(4) + pretrain(run, options + " --log.level debug --log.all-ranks"));
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
TEST(PretrainCli, AFormatOneCheckpointStillResumesBitwise) {
  const std::string straight = fixture().dir + "/straight", old = fixture().dir + "/old";
  auto r = run_command(pretrain(straight, "--train.steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(pretrain(old, "--train.steps 8 --train.ckpt-every 4"));
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
  r = run_command(pretrain(old, "--train.steps 8 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from " + step4), std::string::npos) << r.output;
  EXPECT_EQ(metric_prefixes(old), metric_prefixes(straight));
}

TEST(PretrainCli, ExportedModelOpensInPythonWithEveryParameter) {
  if (!program_available("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  const std::string run = fixture().dir + "/export";
  auto r = run_command(pretrain(run, "--train.steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " export " + run + " --out " + run + "/model.pt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto py = run_command("/usr/bin/python3 -c \"import torch\nd = torch.load('" + run +
                              "/model.pt')\nfor k, v in d.items(): print(k, *v.shape)\"");
  if (py.output.find("No module named 'torch'") != std::string::npos)
    GTEST_SKIP() << "python3-torch not installed";
  ASSERT_EQ(py.exit_code, 0) << py.output;
  models::MmaeConfig config;
  config.dim = 32;
  config.depth = 2;
  config.heads = 2;
  config.decoder_dim = 16;
  config.decoder_depth = 1;
  config.decoder_heads = 2;
  auto alone = distributed::make_local_communicator();
  models::MmaeModel model(config, *alone);
  std::size_t expected = 0;
  for (const auto& p : model.named_parameters()) {
    std::string line = p.key();
    for (auto size : p.value().sizes()) line += " " + std::to_string(size);
    EXPECT_NE(py.output.find(line + "\n"), std::string::npos) << line << "\n" << py.output;
    ++expected;
  }
  EXPECT_GE(std::count(py.output.begin(), py.output.end(), '\n'), static_cast<long>(expected));
  EXPECT_EQ(py.output.find("teacher."), std::string::npos);  // training state stays out unless asked
  const auto json = core::JsonValue::parse(read_text_file(run + "/model.json"));
  EXPECT_EQ(json["model"]["dim"].as_int(), 32);
  EXPECT_EQ(json["step"].as_int(), 2);
}

}  // namespace
}  // namespace trafficfm::testing
