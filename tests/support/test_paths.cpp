#include "tests/support/test_paths.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "core/file_tree.h"

namespace trafficfm::testing {

std::string trafficfm_binary() {
  const char* bin = std::getenv("TRAFFICFM_BIN");
  if (!bin) throw std::runtime_error("TRAFFICFM_BIN is not set (run the tests through ctest)");
  return bin;
}

std::string source_dir() { return TRAFFICFM_SOURCE_DIR; }

std::string shared_data_dir() {
  const char* env = std::getenv("TRAFFICFM_SHARED_DATA");
  const std::string dir = env ? env : source_dir() + "/../shared/data";
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  return "";
}

namespace {
// The directories this process made, removed when it exits (by the process that made them:
// a forked child's exit must not remove its parent's), unless TRAFFICFM_KEEP_TEST_DIRS is set.
// Hundreds of fixture directories otherwise pile up in /tmp over a few test runs.
struct MadeDirs {
  pid_t owner = getpid();
  std::vector<std::string> dirs;
  std::mutex mutex;
  ~MadeDirs() {
    if (getpid() != owner || std::getenv("TRAFFICFM_KEEP_TEST_DIRS")) return;
    for (const auto& dir : dirs) {
      try {
        remove_tree(dir);
      } catch (const std::exception&) {  // never an exception out of exit
      }
    }
  }
};
MadeDirs& made_dirs() {
  static MadeDirs made;
  return made;
}
}  // namespace

std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  MadeDirs& made = made_dirs();
  std::lock_guard<std::mutex> lock(made.mutex);
  made.dirs.push_back(templ);
  return templ;
}

void remove_tree(const std::string& path) {
  if (path.size() > 5) core::remove_tree(path);  // the guard: never "/" or "/tmp" by mistake
}

CommandResult run_command(const std::string& command, bool merge_stderr) {
  CommandResult result;
  FILE* pipe = popen((merge_stderr ? command + " 2>&1" : command).c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool program_available(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null").exit_code == 0;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string mpirun(int ranks) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np " +
         std::to_string(ranks) + " ";
}

std::vector<std::string> metric_prefixes(const std::string& run) {
  std::vector<std::string> lines;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) lines.push_back(line.substr(0, line.find(", \"lr\"")));
  return lines;
}

CommandResult run_killed_after_metric_lines(const std::string& command, const std::string& run, int lines) {
  const std::string script = run + ".kill.sh";
  std::ofstream(script) << command << " > " << run << ".log 2>&1 &\nfor i in $(seq 1 1800); do\n  if [ -f "
                        << run << "/metrics.jsonl ] && [ $(wc -l < " << run << "/metrics.jsonl) -ge " << lines
                        << " ]; then break; fi\n  sleep 0.05\ndone\npkill -KILL -f 'out " << run
                        << " '\nwait\n";
  return run_command("bash " + script);
}

}  // namespace trafficfm::testing
