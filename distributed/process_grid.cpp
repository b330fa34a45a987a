#include "distributed/process_grid.h"

#include <stdexcept>
#include <string>

namespace trafficfm::distributed {

GridLayout make_grid_layout(int world_size, int world_rank, int tp) {
  if (tp < 1 || world_size % tp != 0) {
    throw std::invalid_argument("--parallel.tp " + std::to_string(tp) + " does not divide the world size " +
                                std::to_string(world_size));
  }
  GridLayout g;
  g.world = world_size;
  g.tp = tp;
  g.dp = world_size / tp;
  g.rank = world_rank;
  g.tp_rank = world_rank % tp;
  g.dp_rank = world_rank / tp;
  return g;
}

ProcessGrid::ProcessGrid(Communicator& world, int tp)
    : world_(world), layout_(make_grid_layout(world.size(), world.rank(), tp)) {
  // Both splits are collective over the world: every rank makes them in the same order.
  dp_ = world.split(/*color=*/layout_.tp_rank, /*key=*/layout_.dp_rank);
  tp_ = world.split(/*color=*/layout_.dp_rank, /*key=*/layout_.tp_rank);
}

ProcessGrid::ProcessGrid(std::unique_ptr<Communicator> owned_world, int tp)
    : owned_world_(std::move(owned_world)),
      world_(*owned_world_),
      layout_(make_grid_layout(world_.size(), 0, tp)),
      dp_(make_local_communicator()),
      tp_(make_shape_only_communicator(tp)) {}

std::unique_ptr<ProcessGrid> ProcessGrid::shape_only(int tp) {
  return std::unique_ptr<ProcessGrid>(new ProcessGrid(make_shape_only_communicator(tp), tp));
}

}  // namespace trafficfm::distributed
