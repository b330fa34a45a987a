// Where this process sits in the job, read from the launcher's environment before any
// communicator exists: mpirun (OpenMPI), srun --mpi=pmix (Slurm + PMIx), or torchrun-style
// variables; a process started alone is rank 0 of 1.
#pragma once
#include <string>

namespace trafficfm::distributed {

struct LaunchEnv {
  int world_rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string launcher = "single";  // "mpirun", "slurm", "torchrun" or "single"
};

// Reads the environment. Throws std::runtime_error naming the variable when a launcher's
// variables are present but inconsistent (rank >= size, non-numeric).
LaunchEnv detect_launch_env();

}  // namespace trafficfm::distributed
