// trafficfm submit --config F [--nodes N --gpus-per-node G --time T --partition P ...]
//   [--sweep FILE] [--dry-run] [-- MORE TRAFFICFM OPTIONS]
// Renders the batch script for the run (slurm/*.sbatch with the run's values and the job's
// #SBATCH lines), writes it into the run directory and submits it with sbatch; --dry-run prints
// it instead. The job checkpoints on Slurm's warning signal and requeues itself (docs/slurm.md).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "launch/common_options.h"
#include "launch/slurm/job_script.h"
#include "launch/subcommand.h"

namespace trafficfm::launch {

namespace po = core::po;
namespace fs = std::filesystem;

namespace {

po::options_description submit_options() {
  po::options_description run("Run");
  run.add_options()("help,h", "print this help: every option with its default and meaning")(
      "config", po::value<std::string>()->required(),
      "the run's INI file (what every rank gets as --config)")(
      "command", po::value<std::string>()->default_value("pretrain"),
      "what the ranks run: pretrain | finetune")("corpus", po::value<std::string>()->default_value(""),
                                                 "corpus directory (default: the config's `corpus` key)")(
      "out", po::value<std::string>()->default_value(""),
      "run directory: checkpoints, metrics, logs, the job's output and script (default: the config's `out` "
      "key)")("from", po::value<std::string>()->default_value(""),
              "finetune: the pretraining run or checkpoint to start from, or `scratch`")(
      "sweep", po::value<std::string>()->default_value(""),
      "sweep file (`NAME OPTIONS...` per line): a job array, entry i in RUN/NAME")(
      "array-parallel", po::value<int>()->default_value(0),
      "sweep: at most this many array tasks at once (0: no limit)")(
      "dry-run", po::bool_switch(), "print the script instead of submitting it")(
      "sbatch", po::value<std::string>()->default_value("sbatch"), "the sbatch program");
  po::options_description resources(
      "Resources (left out when not given: sbatch's defaults and SBATCH_* environment apply)");
  resources.add_options()("nodes", po::value<int>()->default_value(1), "nodes")(
      "gpus-per-node", po::value<int>()->default_value(0), "GPUs per node, one rank each (0: CPU nodes)")(
      "tasks-per-node", po::value<int>()->default_value(0),
      "ranks per node (0: one per GPU, or 1 without GPUs)")(
      "cpus-per-task", po::value<int>()->default_value(0),
      "CPU cores per rank; also the ranks' OpenMP threads")(
      "mem", po::value<std::string>()->default_value(""), "memory per node (sbatch --mem)")(
      "time", po::value<std::string>()->default_value(""),
      "time limit of each run of the job (e.g. 24:00:00)")(
      "partition", po::value<std::string>()->default_value(""), "partition")(
      "account", po::value<std::string>()->default_value(""), "account")(
      "qos", po::value<std::string>()->default_value(""), "quality of service")(
      "constraint", po::value<std::string>()->default_value(""), "node features (sbatch --constraint)")(
      "job-name", po::value<std::string>()->default_value(""), "job name (default: trafficfm-RUNNAME)")(
      "sbatch-option", po::value<std::vector<std::string>>()->composing(),
      "one more sbatch option, verbatim (repeatable), e.g. --sbatch-option=--exclusive");
  po::options_description restarts("Preemption and restarts");
  restarts.add_options()(
      "signal-seconds", po::value<int>()->default_value(300),
      "Slurm sends the warning signal (USR1) this long before the time limit: checkpoint, exit 75, requeue")(
      "max-restarts", po::value<int>()->default_value(20), "requeue the job at most this many times")(
      "launcher", po::value<std::string>()->default_value("srun"),
      "srun | mpirun (OpenMPI's, inside the allocation)")(
      "srun-mpi", po::value<std::string>()->default_value("pmix"), "srun's --mpi plugin");
  po::options_description all;
  all.add(run).add(resources).add(restarts);
  return all;
}

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  return fs::absolute(fs::path(path)).lexically_normal().string();
}

// `corpus` and `out` may live in the run's config; read just those keys.
std::string config_key(const std::string& config, const std::string& key) {
  po::options_description keys;
  keys.add_options()(key.c_str(), po::value<std::string>());
  std::ifstream file(config);
  if (!file) throw core::UsageError("trafficfm submit: cannot read config file '" + config + "'");
  po::variables_map values;
  try {
    po::store(po::parse_config_file(file, keys, /*allow_unregistered=*/true), values);
  } catch (const po::error& e) {
    throw core::UsageError("trafficfm submit: config file '" + config + "': " + e.what());
  }
  return values.count(key) ? values[key].as<std::string>() : std::string();
}

// Runs `sbatch --parsable SCRIPT`; returns the job id, throws with sbatch's own words.
std::string run_sbatch(const std::string& sbatch, const std::string& script) {
  const std::string command = shell_quote(sbatch) + " --parsable " + shell_quote(script) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("trafficfm submit: cannot run " + sbatch);
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (status != 0) throw std::runtime_error("trafficfm submit: sbatch refused " + script + ":\n" + output);
  // --parsable prints "JOBID" or "JOBID;CLUSTER" (after any warnings, on the last line).
  const auto newline = output.find_last_of('\n');
  const auto last_line = newline == std::string::npos ? output : output.substr(newline + 1);
  return last_line.substr(0, last_line.find(';'));
}

}  // namespace

int run_submit(const std::vector<std::string>& all_args) {
  // Words after `--` are options of the training command itself.
  std::vector<std::string> args, passed_on;
  split_at_separator(all_args, args, passed_on);
  const auto options = submit_options();
  const auto values =
      core::parse_options("trafficfm submit", options, args, nullptr, /*read_config_file=*/false);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm submit --config FILE [--out RUN] [--nodes N --gpus-per-node G --time T --partition "
        "P ...]\n"
        "                        [--command finetune --from RUN] [--sweep FILE] [--dry-run] [-- TRAFFICFM "
        "OPTIONS]",
        options);
    return core::kExitOk;
  }
  JobRequest request;
  request.command = values["command"].as<std::string>();
  request.trafficfm = this_executable();
  request.config = absolute_path(values["config"].as<std::string>());
  std::string corpus = values["corpus"].as<std::string>(), out = values["out"].as<std::string>();
  if (corpus.empty()) corpus = config_key(request.config, "corpus");
  if (out.empty()) out = config_key(request.config, "out");
  request.corpus = absolute_path(corpus);
  request.run = absolute_path(out);
  const std::string from = values["from"].as<std::string>();
  request.from = from == "scratch" ? from : absolute_path(from);
  request.args = passed_on;
  request.nodes = values["nodes"].as<int>();
  request.gpus_per_node = values["gpus-per-node"].as<int>();
  request.tasks_per_node = values["tasks-per-node"].as<int>();
  request.cpus_per_task = values["cpus-per-task"].as<int>();
  request.mem = values["mem"].as<std::string>();
  request.time = values["time"].as<std::string>();
  request.partition = values["partition"].as<std::string>();
  request.account = values["account"].as<std::string>();
  request.qos = values["qos"].as<std::string>();
  request.constraint = values["constraint"].as<std::string>();
  request.job_name = values["job-name"].as<std::string>();
  if (values.count("sbatch-option"))
    request.sbatch_options = values["sbatch-option"].as<std::vector<std::string>>();
  request.signal_seconds = values["signal-seconds"].as<int>();
  request.max_restarts = values["max-restarts"].as<int>();
  request.launcher = values["launcher"].as<std::string>();
  request.srun_mpi = values["srun-mpi"].as<std::string>();
  request.array_parallel = values["array-parallel"].as<int>();
  std::size_t entries = 0;
  if (!values["sweep"].as<std::string>().empty()) {
    request.sweep = absolute_path(values["sweep"].as<std::string>());
    entries = read_sweep_file(request.sweep).size();
    request.sweep_entries = entries;
  }
  check_request(request);
  const std::string name = template_name(request);
  const std::string script = render_job_script(slurm_file(name), slurm_file("job_common.sh"), request);
  if (values["dry-run"].as<bool>()) {
    std::cout << script << std::flush;
    return core::kExitOk;
  }
  fs::create_directories(request.run);
  const std::string script_path = request.run + "/" + name;
  core::write_file_atomically(script_path, script);
  const std::string job = run_sbatch(values["sbatch"].as<std::string>(), script_path);
  std::cout << "submitted job " << job << ": " << request.command << ", " << request.nodes << " node(s) x "
            << ranks_per_node(request) << " rank(s)"
            << (entries ? ", array of " + std::to_string(entries) + " sweep entries" : std::string()) << "\n";
  const std::string run_dir = request.run + (entries ? "/NAME" : "");
  std::cout << "  script:      " << script_path << "\n"
            << "  job output:  " << request.run
            << (entries ? "/slurm-" + job + "_TASK.out" : "/slurm-" + job + ".out")
            << " (appended across requeues)\n"
            << "  rank logs:   " << run_dir << "/log/rank-N.log\n"
            << "  metrics:     " << run_dir << "/metrics.jsonl\n"
            << "  checkpoints: " << run_dir << "/checkpoints/\n"
            << "  follow:      squeue -j " << job << "; tail -f " << request.run
            << (entries ? "/slurm-" + job + "_0.out" : "/slurm-" + job + ".out") << "\n";
  return core::kExitOk;
}

}  // namespace trafficfm::launch
