#include "launch/slurm/job_script.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"

namespace trafficfm::launch {

namespace {

constexpr const char* kInlineMarker = "# trafficfm submit: inline job_common.sh";

std::string base_name(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const auto slash = trimmed.find_last_of('/');
  return slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
}

bool has_space(const std::string& text) { return text.find_first_of(" \t\r\n") != std::string::npos; }

// A value that goes into an #SBATCH line: sbatch splits those lines at white space.
void check_sbatch_value(const std::string& what, const std::string& value) {
  if (has_space(value))
    throw core::UsageError("trafficfm submit: " + what + " '" + value + "' contains white space");
}

}  // namespace

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=@+%") ==
          std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string replace_block(const std::string& text, const std::string& name,
                          const std::vector<std::string>& lines) {
  const std::string open = "# >>> " + name, close = "# <<< " + name;
  const auto begin = text.find(open);
  const auto end = text.find(close);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    throw std::logic_error("slurm template has no '" + open + "' ... '" + close + "' block");
  }
  const auto body = text.find('\n', begin) + 1;
  std::string replaced = text.substr(0, body);
  for (const auto& line : lines) replaced += line + "\n";
  return replaced + text.substr(end);
}

long slurm_time_seconds(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789:-") != std::string::npos) return -1;
  long days = 0;
  std::string clock = text;
  const auto dash = text.find('-');
  if (dash != std::string::npos) {
    if (dash == 0 || text.find('-', dash + 1) != std::string::npos) return -1;
    days = std::stol(text.substr(0, dash));
    clock = text.substr(dash + 1);
  }
  std::vector<long> parts;
  std::stringstream in(clock);
  for (std::string part; std::getline(in, part, ':');) {
    if (part.empty()) return -1;
    parts.push_back(std::stol(part));
  }
  if (parts.empty() || parts.size() > 3) return -1;
  long seconds = 0;
  if (dash != std::string::npos) {  // D-HH[:MM[:SS]]
    const long unit[] = {3600, 60, 1};
    for (std::size_t i = 0; i < parts.size(); ++i) seconds += parts[i] * unit[i];
  } else if (parts.size() == 1) {  // MM
    seconds = parts[0] * 60;
  } else if (parts.size() == 2) {  // MM:SS
    seconds = parts[0] * 60 + parts[1];
  } else {  // HH:MM:SS
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2];
  }
  return days * 86400 + seconds;
}

std::vector<SweepEntry> read_sweep_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::UsageError("trafficfm submit: cannot read sweep file '" + path + "'");
  std::vector<SweepEntry> entries;
  std::set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    SweepEntry entry;
    if (!(words >> entry.name) || entry.name[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number);
    if (entry.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            std::string::npos ||
        entry.name[0] == '-' || entry.name[0] == '.') {
      throw core::UsageError("trafficfm submit: " + where + ": entry name '" + entry.name +
                             "' must be letters, digits, '_', '.' or '-' (it names the run directory)");
    }
    if (!names.insert(entry.name).second) {
      throw core::UsageError("trafficfm submit: " + where + ": entry name '" + entry.name +
                             "' appears twice");
    }
    for (std::string word; words >> word;) {
      if (word.find_first_of("'\"\\$`") != std::string::npos) {
        throw core::UsageError("trafficfm submit: " + where + ": '" + word +
                               "': sweep options are split at spaces, without quoting or expansion");
      }
      entry.options.push_back(word);
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) throw core::UsageError("trafficfm submit: sweep file '" + path + "' has no entries");
  return entries;
}

int ranks_per_node(const JobRequest& request) {
  if (request.tasks_per_node > 0) return request.tasks_per_node;
  return request.gpus_per_node > 0 ? request.gpus_per_node : 1;
}

std::string template_name(const JobRequest& request) {
  if (!request.sweep.empty()) return "sweep.sbatch";
  return request.command + ".sbatch";
}

void check_request(const JobRequest& request) {
  auto fail = [](const std::string& message) { throw core::UsageError("trafficfm submit: " + message); };
  if (request.command != "pretrain" && request.command != "finetune") {
    fail("--command must be pretrain or finetune, not '" + request.command + "'");
  }
  if (request.nodes < 1) fail("--nodes must be at least 1");
  if (request.gpus_per_node < 0 || request.tasks_per_node < 0 || request.cpus_per_task < 0) {
    fail("--gpus-per-node, --tasks-per-node and --cpus-per-task cannot be negative");
  }
  if (request.signal_seconds < 0) fail("--signal-seconds cannot be negative (0: no warning signal)");
  if (request.max_restarts < 0) fail("--max-restarts cannot be negative");
  const long limit = slurm_time_seconds(request.time);
  if (limit > 0 && request.signal_seconds > 0 && request.signal_seconds >= limit) {
    fail("--signal-seconds " + std::to_string(request.signal_seconds) + " is not shorter than --time " +
         request.time + " (" + std::to_string(limit) + " s): the job would be told to stop as it starts");
  }
  if (request.launcher != "srun" && request.launcher != "mpirun") {
    fail("--launcher must be srun or mpirun, not '" + request.launcher + "'");
  }
  if (request.command == "finetune" && request.from.empty() && request.sweep.empty()) {
    bool given = false;
    for (const auto& a : request.args)
      given = given || a == "--from" || a.rfind("--from=", 0) == 0 || a == "--from-scratch";
    if (!given) fail("finetune needs --from RUN_OR_CKPT or --from scratch");
  }
  if (!request.sweep.empty() && request.sweep_entries == 0) fail("the sweep file has no entries");
  if (request.run.empty()) fail("no run directory: give --out, or an `out` key in the config");
  if (request.corpus.empty()) fail("no corpus: give --corpus, or a `corpus` key in the config");
  check_sbatch_value("--out", request.run);
  for (const auto* value : {&request.time, &request.partition, &request.account, &request.qos,
                            &request.job_name, &request.mem, &request.constraint}) {
    check_sbatch_value("option value", *value);
  }
  for (const auto& option : request.sbatch_options) {
    if (option.rfind("-", 0) != 0 || option.find('\n') != std::string::npos) {
      fail("--sbatch-option '" + option +
           "' must be one sbatch option, e.g. --exclusive or --reservation=NAME");
    }
  }
}

std::vector<std::string> sbatch_lines(const JobRequest& request) {
  std::vector<std::string> lines;
  auto add = [&](const std::string& option) { lines.push_back("#SBATCH " + option); };
  auto add_if = [&](const std::string& name, const std::string& value) {
    if (!value.empty()) add("--" + name + "=" + value);
  };
  add("--job-name=" + (request.job_name.empty() ? "trafficfm-" + base_name(request.run) : request.job_name));
  add("--nodes=" + std::to_string(request.nodes));
  add("--ntasks-per-node=" + std::to_string(ranks_per_node(request)));
  if (request.gpus_per_node > 0) add("--gpus-per-node=" + std::to_string(request.gpus_per_node));
  if (request.cpus_per_task > 0) add("--cpus-per-task=" + std::to_string(request.cpus_per_task));
  add_if("mem", request.mem);
  add_if("time", request.time);
  add_if("partition", request.partition);
  add_if("account", request.account);
  add_if("qos", request.qos);
  add_if("constraint", request.constraint);
  if (request.signal_seconds > 0) add("--signal=B:USR1@" + std::to_string(request.signal_seconds));
  add("--requeue");
  add("--open-mode=append");  // a requeued job appends to the same output file
  if (request.sweep.empty()) {
    add("--output=" + request.run + "/slurm-%j.out");
  } else {
    add("--output=" + request.run + "/slurm-%A_%a.out");
    std::string array = "--array=0-" + std::to_string(request.sweep_entries - 1);
    if (request.array_parallel > 0) array += "%" + std::to_string(request.array_parallel);
    add(array);
  }
  for (const auto& option : request.sbatch_options) add(option);
  return lines;
}

std::string render_job_script(const std::string& templ, const std::string& common,
                              const JobRequest& request) {
  std::vector<std::string> parameters = {"TRAFFICFM=" + shell_quote(request.trafficfm)};
  if (!request.sweep.empty()) {
    parameters.push_back("COMMAND=" + shell_quote(request.command));
    parameters.push_back("SWEEP=" + shell_quote(request.sweep));
  }
  parameters.push_back("CONFIG=" + shell_quote(request.config));
  parameters.push_back("CORPUS=" + shell_quote(request.corpus));
  parameters.push_back("RUN=" + shell_quote(request.run));
  if (request.sweep.empty() && request.command == "finetune")
    parameters.push_back("FROM=" + shell_quote(request.from));
  parameters.push_back("LAUNCHER=" + shell_quote(request.launcher));
  parameters.push_back("SRUN_MPI=" + shell_quote(request.srun_mpi));
  parameters.push_back("MAX_RESTARTS=" + std::to_string(request.max_restarts));
  std::string args = "TRAFFICFM_ARGS=(";
  for (std::size_t i = 0; i < request.args.size(); ++i) args += (i ? " " : "") + shell_quote(request.args[i]);
  parameters.push_back(args + ")");

  std::string script = replace_block(templ, "sbatch options", sbatch_lines(request));
  script = replace_block(script, "parameters", parameters);
  const auto marker = script.find(kInlineMarker);
  if (marker == std::string::npos)
    throw std::logic_error("slurm template has no '" + std::string(kInlineMarker) + "' line");
  const auto line_begin = script.rfind('\n', marker) + 1;
  const auto line_end = script.find('\n', marker) + 1;
  script = script.substr(0, line_begin) + "# ---- slurm/job_common.sh, inlined by trafficfm submit ----\n" +
           common + "# ---- end of slurm/job_common.sh ----\n" + script.substr(line_end);
  // Say where the script came from, right after the #! line.
  const auto first_line = script.find('\n') + 1;
  return script.substr(0, first_line) + "# Rendered by `trafficfm submit` from slurm/" +
         template_name(request) + "; submit it again with sbatch, or render a new one.\n" +
         script.substr(first_line);
}

}  // namespace trafficfm::launch
