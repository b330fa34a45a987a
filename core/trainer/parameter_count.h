// How many parameters a task trains: the whole model's count (every tensor-parallel shard, a
// padded vocabulary's real rows, a tied tensor once) and the non-embedding count scaling laws
// use (Task::embedding_parameter). Computed from this rank's shards and their layout, so it
// needs no collective and gives the same numbers at any dp x tp.
#pragma once
#include <cstdint>

#include "core/json.h"
#include "core/trainer/task.h"

namespace trafficfm::core {

struct ParameterCount {
  std::int64_t total = 0, non_embedding = 0;
  JsonObject to_json() const;
};

ParameterCount count_parameters(Task& task, int tp);

}  // namespace trafficfm::core
