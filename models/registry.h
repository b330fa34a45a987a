// The models `trafficfm pretrain`, `finetune` and `eval` know, by name. A model registers its
// options (its INI section), the corpus encoding it reads, and how to build its pretraining
// Task; launch/ never names a model anywhere else.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/trainer/task.h"
#include "distributed/process_grid.h"
#include "models/finetune/classifier.h"
#include "models/finetune/label_plan.h"

namespace trafficfm::models {

struct TaskContext {
  distributed::ProcessGrid& grid;
  const core::po::variables_map& values;
  std::uint64_t seed;
  torch::Device device;
  double drop_path = -1;               // fine-tuning's stochastic depth; < 0: the model config's
  std::string corpus_settings = "{}";  // the corpus manifest's encoder settings (JSON object)
};

struct ModelEntry {
  const char* name;
  const char* encoding;  // the corpus encoder it reads (manifest "encoder")
  void (*add_options)(core::po::options_description& options);
  std::unique_ptr<core::Task> (*make_pretrain_task)(const TaskContext& context);
  std::vector<std::string> (*columns)();
  // The model with a classification head over `classes` outputs, for finetune and eval; null
  // for a model that has none yet.
  std::unique_ptr<Classifier> (*make_classifier)(const TaskContext& context, std::int64_t classes);
  // The next-packet generation fine-tuning task (`finetune --finetune.task generate`); null for
  // a model that does not generate.
  std::unique_ptr<core::Task> (*make_generation_task)(const TaskContext& context) = nullptr;
  // A model of variable-size samples (graphs) batches by size: the loader's size and balance
  // columns (datasets/loader/loader.h), and --train.batch-nodes replaces --train.batch-size.
  const char* size_column = nullptr;
  const char* balance_column = nullptr;
  // A model that classifies nodes of its samples (graphs' flows): its per-node label columns
  // (models/finetune/label_plan.h); null: it classifies samples.
  NodeLabels (*node_labels)() = nullptr;
};

const std::vector<ModelEntry>& model_registry();
// Throws core::UsageError listing the known names.
const ModelEntry& find_model(const std::string& name);

}  // namespace trafficfm::models
