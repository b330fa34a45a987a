// world = dp x tp. Tensor-parallel ranks are contiguous (rank = dp_rank * tp + tp_rank), so a
// tensor-parallel group sits on one node when tp divides the GPUs per node; data-parallel
// groups stride across nodes.
#pragma once
#include <memory>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

struct GridLayout {
  int world = 1, dp = 1, tp = 1;
  int rank = 0, dp_rank = 0, tp_rank = 0;
};

// Throws std::invalid_argument when tp does not divide the world size.
GridLayout make_grid_layout(int world_size, int world_rank, int tp);

class ProcessGrid {
 public:
  ProcessGrid(Communicator& world, int tp);
  // Rank 0 of a grid of `tp` tensor-parallel ranks (dp 1) with no other process: a model built
  // on it has rank 0's shards, so its constructor checks that its sizes split over tp exactly as
  // a real run's would. Every collective of its tp and world communicators throws.
  static std::unique_ptr<ProcessGrid> shape_only(int tp);
  const GridLayout& layout() const { return layout_; }
  Communicator& world() { return world_; }
  Communicator& dp() { return *dp_; }  // same tp_rank, all dp ranks
  Communicator& tp() { return *tp_; }  // same dp_rank, all tp ranks

 private:
  ProcessGrid(std::unique_ptr<Communicator> owned_world, int tp);
  std::unique_ptr<Communicator> owned_world_;  // shape_only's
  Communicator& world_;
  GridLayout layout_;
  std::unique_ptr<Communicator> dp_, tp_;
};

}  // namespace trafficfm::distributed
