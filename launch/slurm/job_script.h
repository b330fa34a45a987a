// Rendering a Slurm batch script for `trafficfm submit` from the templates in slurm/ (built
// into the binary): the template's `# >>> sbatch options` block becomes the job's #SBATCH
// lines, its `# >>> parameters` block the run's values (shell-quoted), and the line that
// sources job_common.sh becomes that file, so the script needs nothing of the repository.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::launch {

struct JobRequest {
  std::string command = "pretrain";  // pretrain | finetune (what every rank runs)
  std::string trafficfm;             // absolute path of the binary the ranks run
  std::string config, corpus, run;   // absolute paths; corpus may be empty (the config has it)
  std::string from;                  // finetune: pretraining run or checkpoint, or "scratch"
  std::vector<std::string> args;     // more options for the command
  // Resources. 0 / empty: not written, so sbatch's defaults and environment apply.
  int nodes = 1;
  int gpus_per_node = 0;
  int tasks_per_node = 0;  // 0: one per GPU, or one per node without GPUs
  int cpus_per_task = 0;
  std::string time, partition, account, qos, job_name, mem, constraint;
  std::vector<std::string> sbatch_options;  // more, verbatim ("--exclusive", "--reservation=r")
  // Preemption and restarts.
  int signal_seconds = 300;  // USR1 this long before the time limit
  int max_restarts = 20;
  std::string launcher = "srun";  // srun | mpirun
  std::string srun_mpi = "pmix";
  // Sweep as a job array (empty: a single job).
  std::string sweep;
  std::size_t sweep_entries = 0;
  int array_parallel = 0;  // at most this many array tasks at once (0: no limit)
};

// The entries of a sweep file: `NAME OPTIONS...` per line, # comments and blank lines skipped.
// Throws UsageError naming the file and line for a bad or repeated name.
struct SweepEntry {
  std::string name;
  std::vector<std::string> options;
};
std::vector<SweepEntry> read_sweep_file(const std::string& path);

// Ranks per node: --tasks-per-node, else one per GPU, else one.
int ranks_per_node(const JobRequest& request);
// Which template a request uses: "pretrain.sbatch", "finetune.sbatch" or "sweep.sbatch".
std::string template_name(const JobRequest& request);
// The #SBATCH lines of the request, in order.
std::vector<std::string> sbatch_lines(const JobRequest& request);
// The finished script. `templ` and `common` are the template's and job_common.sh's text.
std::string render_job_script(const std::string& templ, const std::string& common, const JobRequest& request);
// Throws UsageError for a request Slurm or the scripts cannot run.
void check_request(const JobRequest& request);

// Seconds of a Slurm time limit ("MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS");
// -1 for "", "infinite"/"unlimited" or text that is none of these.
long slurm_time_seconds(const std::string& text);

// `word` quoted for bash ('...' with embedded quotes escaped); unchanged when it needs none.
std::string shell_quote(const std::string& word);
// Replaces the lines between "# >>> NAME" and "# <<< NAME" (the markers stay). Throws
// std::logic_error when the template has no such block.
std::string replace_block(const std::string& text, const std::string& name,
                          const std::vector<std::string>& lines);

// The text of a file of slurm/ as built into the binary; throws std::out_of_range if unknown.
const std::string& slurm_file(const std::string& name);

}  // namespace trafficfm::launch
