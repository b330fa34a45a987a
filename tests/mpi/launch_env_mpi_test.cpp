// Under mpiexec, what the launcher's environment says matches what MPI itself reports.
#include <gtest/gtest.h>
#include <mpi.h>

#include "distributed/launch_env.h"

namespace trafficfm::distributed {
namespace {

TEST(LaunchEnvMpi, MatchesMpiCommWorld) {
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const auto env = detect_launch_env();
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.world_rank, rank);
  EXPECT_EQ(env.world_size, size);
  // Every rank runs on this one node: local ranks are a permutation of 0..size-1.
  std::vector<int> locals(size);
  MPI_Allgather(&env.local_rank, 1, MPI_INT, locals.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::sort(locals.begin(), locals.end());
  for (int i = 0; i < size; ++i) EXPECT_EQ(locals[i], i);
  EXPECT_EQ(env.local_size, size);
}

}  // namespace
}  // namespace trafficfm::distributed
