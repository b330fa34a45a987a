// MPI for the CPU bootstrap work of the command-line tools (parallel prep, agreeing on a key):
// initialized only when the launcher started more than one rank, so a process started alone
// never needs mpirun. The tensor communicators (MPI and NCCL) build on the same session.
#pragma once
#include <string>

#include "distributed/launch_env.h"

namespace trafficfm::distributed {

class MpiSession {
 public:
  MpiSession();   // MPI_Init_thread(MPI_THREAD_MULTIPLE) when world size > 1; checks the level
  ~MpiSession();  // MPI_Finalize if it initialized
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return env_.world_rank; }
  int size() const { return env_.world_size; }
  bool active() const { return initialized_; }
  const LaunchEnv& env() const { return env_; }

  void barrier() const;
  // Rank 0's value of `value` on every rank.
  std::string broadcast(const std::string& value) const;
  // Logical OR over ranks (a failure anywhere fails everywhere).
  bool any(bool flag) const;

 private:
  LaunchEnv env_;
  bool initialized_ = false;
};

}  // namespace trafficfm::distributed
