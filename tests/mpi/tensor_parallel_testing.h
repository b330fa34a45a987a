// Shared by the tensor-parallel tests: a tp-2 grid over the MPI world plus a tp group of one
// (for the unsplit reference layer), and comparisons of a split module against the unsplit one.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "distributed/process_grid.h"

namespace trafficfm::testing {

struct TensorParallelSetup {
  std::unique_ptr<distributed::Communicator> world = distributed::make_mpi_world_communicator();
  std::unique_ptr<distributed::ProcessGrid> grid = std::make_unique<distributed::ProcessGrid>(*world, 2);
  std::unique_ptr<distributed::Communicator> alone = world->split(world->rank(), 0);  // a tp group of one
};
inline TensorParallelSetup& tensor_parallel_setup() {
  static TensorParallelSetup s;
  return s;
}

inline void expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5))
      << what << ": max diff " << (got - want).abs().max().item<double>();
}

// This tp rank's slice of a full tensor, along every dimension where the shard is smaller.
inline torch::Tensor slice_like(torch::Tensor full, const torch::Tensor& shard, int tp_rank) {
  for (int d = 0; d < full.dim(); ++d) {
    if (full.size(d) != shard.size(d)) full = full.narrow(d, tp_rank * shard.size(d), shard.size(d));
  }
  return full;
}

// A split parameter's gradient equals the full one's slice along the dimension that differs.
inline void expect_grads_match(torch::nn::Module& split, torch::nn::Module& full, int tp_rank) {
  auto full_params = full.named_parameters();
  for (const auto& p : split.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    expect_close(p.value().grad(), slice_like(full_params[p.key()].grad(), p.value(), tp_rank),
                 "grad of " + p.key());
  }
}

}  // namespace trafficfm::testing
