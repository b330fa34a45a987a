// What `finetune` and `eval` share: the [finetune] options, loading a classifier's weights
// (from a fine-tuning run's model.pt or one of its checkpoints), evaluating it over a split's
// samples (dp ranks share the batches; the confusion matrix is summed), and writing the
// selected model and the report.
#pragma once
#include <string>
#include <vector>

#include "core/classification_report.h"
#include "core/options.h"
#include "datasets/loader/loader.h"
#include "distributed/process_grid.h"
#include "models/finetune/finetune_task.h"
#include "models/registry.h"

namespace trafficfm::launch {

// finetune's options; `for_eval` adds eval's (--split, --report) and drops what is required
// only to train. eval reads a run's config.ini with the same description.
core::po::options_description finetune_options(bool for_eval);

// --seed when given, else --train.seed.
std::uint64_t run_seed(const core::po::variables_map& values);

// Whole tensors name -> tensor of a classifier: DIR/model.pt of a fine-tuning run, model.pt of a
// checkpoint (a step directory, or DIR/checkpoints), or a Hugging Face T5 directory (config.json
// + model.safetensors, models/lens/lens_hf.h). `config_json` gets the model config
// (with "classes") recorded beside them.
std::map<std::string, torch::Tensor> read_classifier_weights(const std::string& from,
                                                             std::string* config_json);
// Copies whole tensors into `module`, each rank its tp slice; throws naming a missing tensor.
void load_module_weights(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                         distributed::Communicator& tp, const std::string& source);
// The same for a start that may hold only part of the module (`pretrain --from` a Hugging Face
// T5 directory has no POP/HTP heads nor Lens's extra embeddings): the module's tensors the
// source has are copied (a shape mismatch throws), the others keep their initialization and are
// returned. Throws when the source holds none of them (the wrong model).
std::vector<std::string> load_module_weights_present(torch::nn::Module& module,
                                                     const std::map<std::string, torch::Tensor>& tensors,
                                                     distributed::Communicator& tp,
                                                     const std::string& source);

// Runs `task` (eval mode, no gradients) over `samples` of `split` and returns the report.
// The loader of a fine-tuning role (train, val, test): the samples the plan's units of that role
// lie in, read from plan.source_split(role) (every split, for a node-labelled model), batched as
// the model batches (by size for a graph model).
datasets::LoaderOptions role_loader_options(const core::po::variables_map& values, const std::string& corpus,
                                            const models::LabelPlan& plan, const std::string& role,
                                            const distributed::ProcessGrid& grid,
                                            const models::ModelEntry& model);

core::ClassificationReport evaluate_split(models::FinetuneTask& task, torch::nn::Module& module,
                                          const datasets::LoaderOptions& loader,
                                          distributed::ProcessGrid& grid);

// Rank 0 (collective over tp): DIR/model.pt (whole tensors) and DIR/model.json.
void save_classifier(torch::nn::Module& module, const std::string& config_json, const std::string& out_dir,
                     distributed::ProcessGrid& grid);

// report.json (the report plus `extra` fields, a JSON object's members) and report.txt.
// `"split_policy": {...}`, a JSON member for reports: how the corpus assigned samples to splits
// (split_by flow|file, the fractions, whether identical samples were kept out of two splits),
// from its manifest; "dedup_across_splits" is false for a corpus prepared before it existed.
std::string split_policy_member(const std::string& corpus);

void write_report(const core::ClassificationReport& report, const std::string& extra_json_members,
                  const std::string& json_path);

}  // namespace trafficfm::launch
