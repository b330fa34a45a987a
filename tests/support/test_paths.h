// Paths and process helpers shared by the tests.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::testing {

// The trafficfm binary (TRAFFICFM_BIN, set by CTest).
std::string trafficfm_binary();
// The checkout the tests were built from.
std::string source_dir();
// ../shared/data beside the checkout (or $TRAFFICFM_SHARED_DATA), or "" when absent (tests then skip with a
// message).
std::string shared_data_dir();
// A fresh empty directory under the system temp dir ($TMPDIR), removed when the process that made
// it exits (TRAFFICFM_KEEP_TEST_DIRS=1 keeps it for debugging).
std::string make_temp_dir(const std::string& prefix);
void remove_tree(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;
};
// Runs a shell command, capturing its stdout (and its stderr when `merge_stderr`).
CommandResult run_command(const std::string& command, bool merge_stderr = true);
bool program_available(const std::string& name);
std::string read_text_file(const std::string& path);
// "mpirun --oversubscribe -np N " allowed to run as root, to prefix a command.
std::string mpirun(int ranks);
// Each line of RUN/metrics.jsonl up to its timing fields (those differ between runs).
std::vector<std::string> metric_prefixes(const std::string& run);
// Starts `command` (a training run writing RUN/metrics.jsonl, output to RUN.log) in the
// background and SIGKILLs every process whose command line holds "out RUN " once `lines`
// metric lines are written (a preemption without warning). Returns the shell's result.
CommandResult run_killed_after_metric_lines(const std::string& command, const std::string& run, int lines);

}  // namespace trafficfm::testing
