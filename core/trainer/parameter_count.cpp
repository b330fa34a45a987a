#include "core/trainer/parameter_count.h"

#include <set>

#include "distributed/tensor_parallel_state.h"

namespace trafficfm::core {

JsonObject ParameterCount::to_json() const {
  return JsonObject().set("total", total).set("non_embedding", non_embedding);
}

ParameterCount count_parameters(Task& task, int tp) {
  ParameterCount count;
  std::set<const void*> seen;  // a tied tensor appears under two names
  for (const auto& t : distributed::sharded_tensors(task.model())) {
    if (!t.is_parameter || !seen.insert(t.tensor.unsafeGetTensorImpl()).second) continue;
    std::int64_t numel = 1;
    for (std::int64_t d = 0; d < t.tensor.dim(); ++d) {
      std::int64_t size = t.tensor.size(d);
      if (d == t.split_dim) size *= tp;
      if (d == 0 && t.rows >= 0) size = t.rows;
      numel *= size;
    }
    count.total += numel;
    if (!task.embedding_parameter(t.name)) count.non_embedding += numel;
  }
  return count;
}

}  // namespace trafficfm::core
