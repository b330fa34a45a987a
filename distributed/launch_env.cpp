#include "distributed/launch_env.h"

#include <cstdlib>
#include <stdexcept>

namespace trafficfm::distributed {
namespace {

bool has(const char* name) { return std::getenv(name) != nullptr; }

int read_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1 << 24) {
    throw std::runtime_error(std::string("environment variable ") + name + "='" + text +
                             "' is not a valid non-negative integer");
  }
  return static_cast<int>(value);
}

// Slurm writes tasks per node compressed: "2(x3),1" = 2,2,2,1. Returns the count for node
// `node_id`, or `fallback` when the text does not cover it.
int tasks_on_node(const char* text, int node_id, int fallback) {
  if (!text) return fallback;
  int node = 0;
  const char* p = text;
  while (*p) {
    char* end = nullptr;
    const long count = std::strtol(p, &end, 10);
    if (end == p) return fallback;
    long repeat = 1;
    p = end;
    if (*p == '(' && p[1] == 'x') {
      repeat = std::strtol(p + 2, &end, 10);
      if (end == p + 2 || *end != ')') return fallback;
      p = end + 1;
    }
    if (node_id < node + repeat) return static_cast<int>(count);
    node += static_cast<int>(repeat);
    if (*p == ',') ++p;
  }
  return fallback;
}

}  // namespace

LaunchEnv detect_launch_env() {
  LaunchEnv env;
  if (has("OMPI_COMM_WORLD_RANK")) {
    env.launcher = "mpirun";
    env.world_rank = read_int("OMPI_COMM_WORLD_RANK", 0);
    env.world_size = read_int("OMPI_COMM_WORLD_SIZE", 1);
    env.local_rank = read_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    env.local_size = read_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (has("SLURM_PROCID") && has("SLURM_NTASKS") && (has("PMIX_RANK") || has("SLURM_STEP_ID"))) {
    // A task of `srun`: only a step (not the batch script itself) has SLURM_STEP_ID.
    env.launcher = "slurm";
    env.world_rank = read_int("SLURM_PROCID", 0);
    env.world_size = read_int("SLURM_NTASKS", 1);
    env.local_rank = read_int("SLURM_LOCALID", 0);
    env.local_size = tasks_on_node(std::getenv("SLURM_STEP_TASKS_PER_NODE"), read_int("SLURM_NODEID", 0), 1);
  } else if (has("RANK") && has("WORLD_SIZE")) {
    env.launcher = "torchrun";
    env.world_rank = read_int("RANK", 0);
    env.world_size = read_int("WORLD_SIZE", 1);
    env.local_rank = read_int("LOCAL_RANK", 0);
    env.local_size = read_int("LOCAL_WORLD_SIZE", 1);
  }
  if (env.world_size < 1 || env.world_rank >= env.world_size) {
    throw std::runtime_error("launcher '" + env.launcher + "' reports rank " +
                             std::to_string(env.world_rank) + " of world size " +
                             std::to_string(env.world_size));
  }
  if (env.local_size < 1) env.local_size = 1;
  return env;
}

}  // namespace trafficfm::distributed
