// Under mpiexec: each rank streams its share of every epoch; gathered, the shares of a step
// are exactly the single-rank batch of that step, and an epoch is covered once.
#include <gtest/gtest.h>
#include <mpi.h>

#include <set>

#include "datasets/loader/loader.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

TEST(LoaderMpi, SharesGatherToTheSingleRankBatches) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::string dir;
  if (rank == 0) {
    dir = testing::make_temp_dir("loader-mpi");
    testing::make_synth_corpus(dir, {300, 9});
  }
  int length = static_cast<int>(dir.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
  dir.resize(length);
  MPI_Bcast(dir.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);

  const std::size_t local_batch = 6;
  LoaderOptions mine;
  mine.corpus = dir + "/corpus";
  mine.dp_rank = rank;
  mine.dp_size = size;
  mine.batch_size = local_batch;
  mine.seed = 7;
  LoaderOptions single = mine;
  single.dp_rank = 0;
  single.dp_size = 1;
  single.batch_size = local_batch * size;
  Loader loader(mine), reference(single);
  ASSERT_EQ(loader.steps_per_epoch(), reference.steps_per_epoch());
  std::set<std::uint64_t> epoch;
  for (std::uint64_t step = 0; step < loader.steps_per_epoch(); ++step) {
    const Batch part = loader.next();
    std::vector<std::uint64_t> ids = part.sample_index;
    const int count = static_cast<int>(ids.size());
    std::vector<int> counts(size), offsets(size);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size; ++r) offsets[r] = total, total += counts[r];
    std::vector<std::uint64_t> gathered(total);
    MPI_Allgatherv(ids.data(), count, MPI_UINT64_T, gathered.data(), counts.data(), offsets.data(),
                   MPI_UINT64_T, MPI_COMM_WORLD);
    EXPECT_EQ(gathered, reference.next().sample_index) << "step " << step;
    for (auto id : gathered) EXPECT_TRUE(epoch.insert(id).second);
  }
  EXPECT_EQ(epoch.size(), reference.samples_per_epoch());
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::datasets
