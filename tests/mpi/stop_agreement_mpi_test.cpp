// A stop signal delivered to one rank stops every rank at the same step: the ranks agree on
// the flag with a logical OR at each step boundary.
#include <gtest/gtest.h>
#include <mpi.h>

#include <csignal>

#include "core/stop_signals.h"
#include "distributed/mpi_session.h"

namespace trafficfm::core {
namespace {

TEST(StopAgreement, OneRanksSignalStopsAllAtTheSameStep) {
  install_stop_handlers();
  clear_stop_request();
  distributed::MpiSession session;  // MPI is already up: the session only reads the layout
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int signalled_rank = size - 1, signal_step = 7;
  int stopped_at = -1;
  for (int step = 0; step < 20; ++step) {
    if (rank == signalled_rank && step == signal_step) std::raise(SIGTERM);
    int local = stop_requested() ? 1 : 0, any = 0;
    MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
      stopped_at = step;
      break;
    }
  }
  std::vector<int> all(size);
  MPI_Allgather(&stopped_at, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD);
  for (int r = 0; r < size; ++r) EXPECT_EQ(all[r], signal_step) << "rank " << r;
  EXPECT_EQ(exit_code_for_signal(SIGTERM), kExitRequeue);
  clear_stop_request();
}

}  // namespace
}  // namespace trafficfm::core
