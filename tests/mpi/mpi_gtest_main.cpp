// GoogleTest main for tests run under mpiexec: MPI is initialised around the whole run, only
// rank 0 prints results, and the exit code is agreed across ranks so that a failure on any
// rank fails the CTest entry. A run in which every test skipped (no GPU, say) exits 77, which
// CTest reports as skipped (SKIP_RETURN_CODE), not as passed.
#include <gtest/gtest.h>
#include <mpi.h>

#include "core/malloc_tuning.h"

int main(int argc, char** argv) {
  trafficfm::core::keep_freed_memory_for_reuse();
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local_failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&local_failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed && local_failed) std::fprintf(stderr, "rank %d: tests failed\n", rank);
  const auto& unit = *::testing::UnitTest::GetInstance();
  const int local_all_skipped =
      unit.test_to_run_count() > 0 && unit.skipped_test_count() == unit.test_to_run_count() ? 1 : 0;
  int all_skipped = 0;
  MPI_Allreduce(&local_all_skipped, &all_skipped, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Finalize();
  if (any_failed) return 1;
  return all_skipped ? 77 : 0;
}
