// trafficfm sweep run SWEEP (--local [-np K] | --submit [trafficfm submit options...])
//  --local: the points in plan order, one `trafficfm pretrain --resume auto` at a time (under
//    mpirun with -np K > 1). A point whose summary.json says it finished is skipped, an
//    interrupted one resumes from its newest checkpoint, one that stopped on its non-finite
//    guard (diverged) is not run again. SIGINT, SIGTERM and SIGUSR1 go to the running point,
//    which checkpoints and exits; the sweep then stops and a later `sweep run` continues it.
//    Any other failure is reported and the next point runs (the fit leaves the point out).
//  --submit: the whole plan as one Slurm job array through `trafficfm submit --sweep`; each
//    array task requeues itself until its point is done (docs/slurm.md).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/stop_signals.h"
#include "launch/common_options.h"
#include "launch/sweep/sweep_files.h"
#include "launch/torch/sweep_commands.h"

namespace trafficfm::launch {

namespace po = core::po;

namespace {

std::atomic<pid_t> running_child{0};
std::atomic<int> stop_requested{0};

void forward_signal(int signal) {
  stop_requested = signal;
  const pid_t child = running_child;
  if (child > 0) kill(child, signal);
}

// Runs argv as a child and waits; the sweep's stop signals are passed to it meanwhile.
int run_child(const std::vector<std::string>& argv) {
  std::vector<char*> words;
  for (const auto& a : argv) words.push_back(const_cast<char*>(a.c_str()));
  words.push_back(nullptr);
  std::cout << std::flush;
  std::cerr << std::flush;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) std::signal(s, SIG_DFL);
    execvp(words[0], words.data());
    std::fprintf(stderr, "trafficfm sweep run: cannot start %s: %s\n", words[0], std::strerror(errno));
    _exit(127);
  }
  running_child = pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  running_child = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// What the point's run directory says about it.
enum class PointState { kNew, kUnfinished, kFinished, kDiverged };
PointState state_of(const std::string& run) {
  std::ifstream in(run + "/summary.json");
  if (!in) return std::filesystem::exists(run + "/checkpoints") ? PointState::kUnfinished : PointState::kNew;
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto summary = core::JsonValue::parse(text.str());
    if (summary["finished"].as_bool()) return PointState::kFinished;
    if (summary["exit_code"].as_int() == 1) return PointState::kDiverged;
  } catch (const std::exception&) {
  }
  return PointState::kUnfinished;
}

double planned_flops(const SweepPoint& p) { return p.flops_per_sample * static_cast<double>(p.samples); }

int run_local(const std::string& dir, const SweepPlan& plan, int ranks, const std::string& mpirun) {
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) std::signal(s, forward_signal);
  double remaining = 0, done_now = 0;
  std::size_t to_run = 0;
  for (const auto& p : plan.points) {
    if (state_of(point_run_dir(dir, p)) != PointState::kFinished) {
      remaining += planned_flops(p);
      ++to_run;
    }
  }
  core::log_info("sweep run: ", plan.points.size() - to_run, " of ", plan.points.size(),
                 " points already finished; ", to_run, " to run (", remaining, " training FLOPs)");
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::string> failed;
  std::size_t index = 0;
  for (const auto& p : plan.points) {
    ++index;
    const std::string run = point_run_dir(dir, p);
    const auto state = state_of(run);
    if (state == PointState::kFinished) continue;
    if (state == PointState::kDiverged) {
      core::log_warn("sweep run: ", p.name, " stopped on non-finite losses before: not run again (remove ",
                     run, " to retry)");
      failed.push_back(p.name);
      continue;
    }
    std::vector<std::string> argv;
    if (ranks > 1) {
      std::istringstream words(mpirun);
      for (std::string w; words >> w;) argv.push_back(w);
      argv.push_back("-np");
      argv.push_back(std::to_string(ranks));
    }
    for (const std::string& w : {this_executable(), std::string("pretrain"), std::string("--config"),
                                 dir + "/" + plan.config, std::string("--corpus"), plan.corpus,
                                 std::string("--out"), run, std::string("--resume"), std::string("auto")})
      argv.push_back(w);
    argv.insert(argv.end(), plan.common.begin(), plan.common.end());
    argv.insert(argv.end(), p.options.begin(), p.options.end());
    core::log_info("sweep run: point ", index, "/", plan.points.size(), " ", p.name,
                   state == PointState::kUnfinished ? " (resuming)" : "", ": N ", p.params, ", ", p.samples,
                   " samples, ", planned_flops(p), " FLOPs");
    const auto point_started = std::chrono::steady_clock::now();
    const int code = run_child(argv);
    if (stop_requested != 0 || code == core::kExitRequeue || code == 128 + SIGINT || code == 128 + SIGTERM) {
      if (code == 0) {
        core::log_warn("sweep run: stopped after ", p.name,
                       " (the signal came as it finished); `trafficfm sweep run ", dir,
                       " --local` continues with the next point");
      } else {
        core::log_warn("sweep run: stopped during ", p.name, " (exit code ", code, "); `trafficfm sweep run ",
                       dir, " --local` continues where it stopped");
      }
      return code == 0 ? core::kExitRequeue : code;
    }
    if (code != 0) {
      core::log_error("sweep run: ", p.name, " failed with exit code ", code, " (see ", run,
                      "/log/); the next point runs, the fit leaves this one out");
      failed.push_back(p.name);
      continue;
    }
    done_now += planned_flops(p);
    remaining -= planned_flops(p);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double rate = done_now / std::max(elapsed, 1e-9);
    core::log_info(
        "sweep run: ", p.name, " done in ",
        core::human_duration(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - point_started).count()),
        "; ", core::human_rate(rate), " FLOP/s so far, ", remaining, " FLOPs left, ETA ",
        core::human_duration(remaining / std::max(rate, 1e-9)));
  }
  if (!failed.empty()) {
    std::string names;
    for (const auto& f : failed) names += " " + f;
    core::log_warn("sweep run: ", failed.size(), " point(s) did not finish:", names);
    return core::kExitFailure;
  }
  core::log_info("sweep run: every point finished; `trafficfm sweep fit ", dir, "` fits them");
  return core::kExitOk;
}

}  // namespace

int run_sweep_run(const std::vector<std::string>& all_args) {
  // Everything after --submit is for `trafficfm submit`.
  std::vector<std::string> args, submit_args;
  bool submit = false;
  for (const auto& a : all_args) {
    if (!submit && a == "--submit") {
      submit = true;
    } else {
      (submit ? submit_args : args).push_back(a);
    }
  }
  po::options_description options("Options");
  options.add_options()("help,h", "print this help")("sweep", po::value<std::string>()->required(),
                                                     "the sweep directory (trafficfm sweep plan --out)")(
      "local", po::bool_switch(), "run the points here, one after another")(
      "np", po::value<int>()->default_value(1), "ranks per point (mpirun -np K when K > 1)")(
      "mpirun", po::value<std::string>()->default_value("mpirun --bind-to none"),
      "the launcher for K > 1 ranks, before its -np K");
  add_logging_options(options);
  po::positional_options_description positional;
  positional.add("sweep", 1);
  std::vector<std::string> words;
  for (const auto& a : args) words.push_back(a == "-np" ? "--np" : a);  // mpirun's spelling too
  const auto values =
      core::parse_options("trafficfm sweep run", options, words, &positional, /*read_config_file=*/false);
  if (values.count("help")) {
    print_help("usage: trafficfm sweep run SWEEP (--local [-np K] | --submit [trafficfm submit options])",
               options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string dir = std::filesystem::absolute(values["sweep"].as<std::string>()).string();
  const SweepPlan plan = read_sweep_plan(dir);
  if (submit == values["local"].as<bool>())
    throw core::UsageError("trafficfm sweep run: give --local or --submit");
  if (!submit) return run_local(dir, plan, values["np"].as<int>(), values["mpirun"].as<std::string>());
  std::vector<std::string> argv{this_executable(), "submit",          "--config", dir + "/" + plan.config,
                                "--corpus",        plan.corpus,       "--out",    dir + "/runs",
                                "--sweep",         dir + "/sweep.txt"};
  argv.insert(argv.end(), submit_args.begin(), submit_args.end());
  argv.push_back("--");
  argv.insert(argv.end(), plan.common.begin(), plan.common.end());
  return run_child(argv);
}

}  // namespace trafficfm::launch
