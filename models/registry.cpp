#include "models/registry.h"

#include "core/errors.h"
#include "models/graph/graph_classifier.h"
#include "models/graph/graph_inputs.h"
#include "models/graph/graph_task.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_classifier.h"
#include "models/lens/lens_generation_task.h"
#include "models/lens/lens_task.h"
#include "models/mmae/mmae_classifier.h"
#include "models/mmae/mmae_inputs.h"
#include "models/mmae/mmae_task.h"

namespace trafficfm::models {

namespace {
std::unique_ptr<core::Task> make_mmae(const TaskContext& context) {
  return std::make_unique<MmaeTask>(mmae_config_from(context.values), context.grid, context.seed,
                                    context.device);
}
std::unique_ptr<Classifier> make_mmae_classifier(const TaskContext& context, std::int64_t classes) {
  auto config = mmae_config_from(context.values);
  if (context.drop_path >= 0) config.drop_path = context.drop_path;
  return std::make_unique<MmaeClassifier>(config, classes, context.grid.tp(), context.seed, context.device);
}
std::unique_ptr<core::Task> make_lens(const TaskContext& context) {
  return std::make_unique<LensTask>(lens_settings_from(context.values), context.grid, context.seed,
                                    context.device);
}
std::unique_ptr<Classifier> make_lens_classifier(const TaskContext& context, std::int64_t classes) {
  return std::make_unique<LensClassifier>(lens_settings_from(context.values), classes, context.grid.tp(),
                                          context.seed, context.device);
}
std::unique_ptr<core::Task> make_lens_generation(const TaskContext& context) {
  return std::make_unique<LensGenerationTask>(lens_settings_from(context.values), context.grid, context.seed,
                                              context.device);
}
std::unique_ptr<Classifier> make_graph_classifier(const TaskContext& context, std::int64_t classes) {
  return std::make_unique<GraphClassifier>(graph_config_from(context.values), context.corpus_settings,
                                           classes, context.seed, context.device);
}
std::unique_ptr<core::Task> make_graph(const TaskContext& context) {
  return std::make_unique<GraphLinkTask>(graph_config_from(context.values), context.corpus_settings,
                                         context.seed, context.device);
}
}  // namespace

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> all = {
      {"mmae", "mmae", add_mmae_options, make_mmae, mmae_columns, make_mmae_classifier},
      {"lens", "lens", add_lens_options, make_lens, lens_columns, make_lens_classifier, make_lens_generation},
      {"graph", "graph", add_graph_options, make_graph, graph_columns, make_graph_classifier, nullptr,
       "nodes", "cost", graph_node_labels},
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
