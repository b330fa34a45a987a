// Rendering Slurm batch scripts (launch/slurm/job_script.h): #SBATCH lines from a request,
// shell quoting of the run's values, the shared part inlined, sweep files read and refused.
// The scripts are run against a real Slurm by tests/slurm/slurm_jobs_test.sh.
#include "launch/slurm/job_script.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/errors.h"
#include "tests/support/test_paths.h"

namespace trafficfm::launch {
namespace {

JobRequest request() {
  JobRequest r;
  r.trafficfm = "/opt/trafficfm/bin/trafficfm";
  r.config = "/home/a/mmae base.ini";  // a space: must survive quoting
  r.corpus = "/data/corpus";
  r.run = "/scratch/runs/base";
  r.args = {"--train.steps", "100", "--note", "it's"};
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JobScript, SbatchLinesFollowTheRequestAndLeaveOutWhatWasNotGiven) {
  auto r = request();
  r.nodes = 2;
  r.gpus_per_node = 4;
  r.time = "24:00:00";
  r.partition = "gpu";
  r.signal_seconds = 600;
  r.sbatch_options = {"--exclusive"};
  const auto lines = sbatch_lines(r);
  const std::vector<std::string> expected = {"#SBATCH --job-name=trafficfm-base",
                                             "#SBATCH --nodes=2",
                                             "#SBATCH --ntasks-per-node=4",
                                             "#SBATCH --gpus-per-node=4",
                                             "#SBATCH --time=24:00:00",
                                             "#SBATCH --partition=gpu",
                                             "#SBATCH --signal=B:USR1@600",
                                             "#SBATCH --requeue",
                                             "#SBATCH --open-mode=append",
                                             "#SBATCH --output=/scratch/runs/base/slurm-%j.out",
                                             "#SBATCH --exclusive"};
  EXPECT_EQ(lines, expected);
  r = request();
  r.sweep = "/s.txt";
  r.sweep_entries = 3;
  r.array_parallel = 2;
  const auto sweep = sbatch_lines(r);
  EXPECT_NE(std::find(sweep.begin(), sweep.end(), "#SBATCH --array=0-2%2"), sweep.end());
  EXPECT_NE(std::find(sweep.begin(), sweep.end(), "#SBATCH --output=/scratch/runs/base/slurm-%A_%a.out"),
            sweep.end());
  EXPECT_NE(std::find(sweep.begin(), sweep.end(), "#SBATCH --ntasks-per-node=1"), sweep.end());
}

TEST(JobScript, RenderedScriptIsSelfContainedAndRunsWithTheQuotedValues) {
  const auto r = request();
  const std::string script = render_job_script(slurm_file("pretrain.sbatch"), slurm_file("job_common.sh"), r);
  EXPECT_FALSE(contains(script, "source ")) << "job_common.sh must be inlined";
  EXPECT_TRUE(contains(script, "run_ranks_and_requeue() {"));
  EXPECT_TRUE(contains(script, "CONFIG='/home/a/mmae base.ini'"));
  EXPECT_TRUE(contains(script, "TRAFFICFM_ARGS=(--train.steps 100 --note 'it'\\''s')"));
  EXPECT_FALSE(contains(script, "#SBATCH --job-name=trafficfm-pretrain"))
      << "the template's own options replaced";
  // bash reads the parameter block back as the values we meant.
  const std::string dir = testing::make_temp_dir("job_script");
  const auto open = script.find("# >>> parameters"), close = script.find("# <<< parameters");
  std::ofstream(dir + "/params.sh") << script.substr(open, close - open)
                                    << "printf '%s\\n' \"$CONFIG\" \"${TRAFFICFM_ARGS[@]}\" > \"$1\"\n";
  ASSERT_EQ(std::system(("bash " + dir + "/params.sh " + dir + "/values.txt").c_str()), 0);
  std::ifstream in(dir + "/values.txt");
  std::vector<std::string> values;
  for (std::string line; std::getline(in, line);) values.push_back(line);
  EXPECT_EQ(values,
            (std::vector<std::string>{"/home/a/mmae base.ini", "--train.steps", "100", "--note", "it's"}));
  EXPECT_EQ(std::system(("bash -n /dev/stdin <<'EOF_SCRIPT'\n" + script + "\nEOF_SCRIPT").c_str()), 0);
  testing::remove_tree(dir);
}

TEST(JobScript, FinetuneAndSweepScriptsCarryTheirOwnParameters) {
  auto r = request();
  r.command = "finetune";
  r.from = "scratch";
  EXPECT_EQ(template_name(r), "finetune.sbatch");
  EXPECT_TRUE(contains(render_job_script(slurm_file("finetune.sbatch"), slurm_file("job_common.sh"), r),
                       "FROM=scratch"));
  r.sweep = "/s.txt";
  r.sweep_entries = 2;
  EXPECT_EQ(template_name(r), "sweep.sbatch");
  const auto sweep = render_job_script(slurm_file("sweep.sbatch"), slurm_file("job_common.sh"), r);
  EXPECT_TRUE(contains(sweep, "SWEEP=/s.txt"));
  EXPECT_TRUE(contains(sweep, "COMMAND=finetune"));
}

TEST(JobScript, BadRequestsAreRefusedWithTheReason) {
  auto r = request();
  r.launcher = "torchrun";
  EXPECT_THROW(check_request(r), core::UsageError);
  r = request();
  r.command = "finetune";  // neither --from nor --from-scratch
  EXPECT_THROW(check_request(r), core::UsageError);
  r.args.push_back("--from-scratch");
  EXPECT_NO_THROW(check_request(r));
  r = request();
  r.run = "/scratch/my run";  // would split the #SBATCH --output line
  EXPECT_THROW(check_request(r), core::UsageError);
  r = request();
  r.corpus.clear();
  EXPECT_THROW(check_request(r), core::UsageError);
  r = request();
  r.sbatch_options = {"exclusive"};
  EXPECT_THROW(check_request(r), core::UsageError);
  EXPECT_NO_THROW(check_request(request()));
}

TEST(JobScript, SweepFileEntriesAreReadAndBadOnesNamedByLine) {
  const std::string dir = testing::make_temp_dir("sweep_file");
  std::ofstream(dir + "/ok.txt")
      << "# name options\n\nsmall --mmae.dim 32\n  big --mmae.dim 128 --train.steps 9\nbare\n";
  const auto entries = read_sweep_file(dir + "/ok.txt");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "small");
  EXPECT_EQ(entries[1].options, (std::vector<std::string>{"--mmae.dim", "128", "--train.steps", "9"}));
  EXPECT_TRUE(entries[2].options.empty());
  std::ofstream(dir + "/twice.txt") << "a --x 1\nb --x 2\na --x 3\n";
  try {
    read_sweep_file(dir + "/twice.txt");
    FAIL() << "a repeated name must be refused";
  } catch (const core::UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "twice.txt:3")) << e.what();
  }
  std::ofstream(dir + "/quoted.txt") << "a --note 'two words'\n";
  EXPECT_THROW(read_sweep_file(dir + "/quoted.txt"), core::UsageError);
  std::ofstream(dir + "/path.txt") << "../escape --x 1\n";
  EXPECT_THROW(read_sweep_file(dir + "/path.txt"), core::UsageError);
  std::ofstream(dir + "/empty.txt") << "# nothing\n";
  EXPECT_THROW(read_sweep_file(dir + "/empty.txt"), core::UsageError);
  EXPECT_THROW(read_sweep_file(dir + "/missing.txt"), core::UsageError);
  testing::remove_tree(dir);
}

TEST(JobScript, SlurmTimeLimitsInEveryFormAndAWarningThatWouldComeTooEarly) {
  EXPECT_EQ(slurm_time_seconds("30"), 1800);
  EXPECT_EQ(slurm_time_seconds("30:15"), 1815);
  EXPECT_EQ(slurm_time_seconds("24:00:00"), 86400);
  EXPECT_EQ(slurm_time_seconds("2-12"), 2 * 86400 + 12 * 3600);
  EXPECT_EQ(slurm_time_seconds("1-00:30"), 86400 + 1800);
  EXPECT_EQ(slurm_time_seconds("1-00:00:10"), 86410);
  EXPECT_EQ(slurm_time_seconds(""), -1);
  EXPECT_EQ(slurm_time_seconds("infinite"), -1);
  EXPECT_EQ(slurm_time_seconds("1:2:3:4"), -1);
  auto r = request();
  r.time = "5";  // 300 s, and the warning would come 300 s before the end
  EXPECT_THROW(check_request(r), core::UsageError);
  r.signal_seconds = 120;
  EXPECT_NO_THROW(check_request(r));
}

TEST(JobScript, ShellQuoting) {
  EXPECT_EQ(shell_quote("plain/path-1.ini"), "plain/path-1.ini");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace trafficfm::launch
