#include "models/registry.h"

#include "core/errors.h"
#include "models/mmae/mmae_inputs.h"
#include "models/mmae/mmae_task.h"

namespace trafficfm::models {

namespace {
std::unique_ptr<core::Task> make_mmae(const TaskContext& context) {
  return std::make_unique<MmaeTask>(mmae_config_from(context.values), context.grid, context.seed, context.device);
}
}  // namespace

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> all = {
      {"mmae", "mmae", add_mmae_options, make_mmae, mmae_columns},
  };
  return all;
}

const ModelEntry& find_model(const std::string& name) {
  std::string known;
  for (const auto& m : model_registry()) {
    if (name == m.name) return m;
    known += std::string(known.empty() ? "" : ", ") + m.name;
  }
  throw core::UsageError("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace trafficfm::models
