#include "launch/torch/classifier_io.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/checkpoint_store.h"
#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/trainer/checkpoint_parts.h"
#include "core/trainer/trainer_checkpoint.h"
#include "distributed/tensor_parallel_state.h"
#include "launch/common_options.h"
#include "launch/torch/training_setup.h"
#include "models/lens/lens_hf.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;
namespace fs = std::filesystem;

po::options_description finetune_options(bool for_eval) {
  po::options_description options("Options");
  core::add_common_options(options);
  auto add = options.add_options();
  add("model", po::value<std::string>()->default_value("mmae"), "model to fine-tune (mmae | lens)");
  add("corpus", po::value<std::string>()->required(),
      "labeled corpus directory written by `trafficfm prep --labels`");
  if (for_eval) {
    add("out", po::value<std::string>(), "(the fine-tuning run's directory; not used by eval)");
    add("resume", po::value<std::string>(), "(the fine-tuning run's --resume; not used by eval)");
    add("from", po::value<std::string>()->required(),
        "a fine-tuning run directory (its selected model.pt) or one of its checkpoints");
    add("split", po::value<std::string>()->default_value("test"), "split to evaluate: train | val | test");
    add("report", po::value<std::string>()->default_value(""),
        "also write the report here (JSON; a .txt table beside it)");
  } else {
    add("out", po::value<std::string>()->required(),
        "run directory: report.json/.txt, model.pt, labeled_subset.json, ...");
    add("from", po::value<std::string>()->default_value(""),
        "pretraining run or checkpoint (any dp/tp layout) whose encoder starts the fine-tuning");
    add("resume", po::value<std::string>()->default_value("none"),
        "auto: continue from the newest valid checkpoint in --out, model selection included (fresh start "
        "when "
        "none) | none");
  }
  add("from-scratch", po::value<bool>()->default_value(false)->implicit_value(true),
      "start from random weights (the baseline pretraining is measured against)");
  add("label-fraction", po::value<double>()->default_value(1.0),
      "share of each class's labeled training samples used");
  add("shots", po::value<std::size_t>()->default_value(0),
      "labeled training samples per class (0: use --label-fraction)");
  add("seed", po::value<std::uint64_t>(),
      "seed of the labeled choice and of training (default: --train.seed)");
  po::options_description finetune("Fine-tuning [finetune]");
  finetune.add_options()("finetune.min-class-samples", po::value<std::size_t>()->default_value(1),
                         "keep the labels with at least this many labeled samples over all splits")(
      "finetune.exclude-labels", po::value<std::string>()->default_value(""),
      "comma-separated labels left out (e.g. Unspecified)")(
      "finetune.epochs", po::value<double>()->default_value(0),
      "train for this many passes over the labeled share (0: --train.steps)")(
      "finetune.layer-decay", po::value<double>()->default_value(0.75),
      "layer-wise lr decay: each layer below the head gets this factor more")(
      "finetune.label-smoothing", po::value<double>()->default_value(0.1),
      "label smoothing of the cross-entropy")("finetune.drop-path", po::value<double>()->default_value(0.1),
                                              "stochastic depth while fine-tuning (linear over the blocks)")(
      "finetune.freeze", po::value<std::string>()->default_value("none"),
      "none | embed | encoder (linear probe)")(
      "finetune.task", po::value<std::string>()->default_value("classify"),
      "classify | generate (Lens: next-packet header generation, `trafficfm generate` measures it)");
  options.add(finetune);
  add_training_options(options);
  for (const auto& model : models::model_registry()) model.add_options(options);
  add_logging_options(options);
  return options;
}

std::map<std::string, torch::Tensor> read_classifier_weights(const std::string& from,
                                                             std::string* config_json) {
  if (models::is_hf_directory(from)) {  // a Lens or T5 checkpoint in Hugging Face's layout
    if (config_json) *config_json = "{}";
    return models::read_hf_t5(from);
  }
  std::map<std::string, torch::Tensor> out;
  if (fs::exists(from + "/model.pt") && fs::exists(from + "/model.json") &&
      !fs::exists(from + "/meta.json")) {  // a fine-tuning run's selected weights, whole
    const auto json = core::JsonValue::parse(core::CheckpointStore(from).read_part(from, "model.json"));
    if (config_json) *config_json = json["model"].dump();
    const auto bytes = core::CheckpointStore(from).read_part(from, "model.pt");
    for (auto& [name, tensor] : core::unpickle_tensors(bytes, from + "/model.pt")) out[name] = tensor;
    return out;
  }
  const std::string dir = core::resolve_checkpoint_dir(from);  // a checkpoint, any format and layout
  const auto meta = core::JsonValue::parse(core::CheckpointStore(from).read_part(dir, "meta.json"));
  if (config_json) *config_json = meta.has("model") ? meta["model"].dump() : "{}";
  for (auto& [name, tensor] : core::read_full_model(dir)) out[name] = tensor;
  return out;
}

namespace {
// Copies the tensors `tensors` has; returns the names it lacks.
std::vector<std::string> copy_weights(torch::nn::Module& module,
                                      const std::map<std::string, torch::Tensor>& tensors,
                                      distributed::Communicator& tp, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing;
  for (const auto& t : distributed::sharded_tensors(module)) {
    const auto it = tensors.find(t.name);
    if (it == tensors.end()) {
      missing.push_back(t.name);
      continue;
    }
    if (!distributed::copy_local_shard(t, it->second, tp)) {
      throw std::runtime_error(source + ": '" + t.name + "' has shape " + c10::str(it->second.sizes()) +
                               ", the model expects " + c10::str(t.tensor.sizes()) + " on this rank");
    }
  }
  return missing;
}
}  // namespace

void load_module_weights(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                         distributed::Communicator& tp, const std::string& source) {
  const auto missing = copy_weights(module, tensors, tp, source);
  if (!missing.empty()) throw std::runtime_error(source + " has no tensor '" + missing.front() + "'");
}

std::vector<std::string> load_module_weights_present(torch::nn::Module& module,
                                                     const std::map<std::string, torch::Tensor>& tensors,
                                                     distributed::Communicator& tp,
                                                     const std::string& source) {
  auto missing = copy_weights(module, tensors, tp, source);
  if (missing.size() == distributed::sharded_tensors(module).size())
    throw std::runtime_error(source + " holds none of this model's tensors (first expected: '" +
                             (missing.empty() ? std::string("?") : missing.front()) + "'): another model?");
  return missing;
}

datasets::LoaderOptions role_loader_options(const core::po::variables_map& values, const std::string& corpus,
                                            const models::LabelPlan& plan, const std::string& role,
                                            const distributed::ProcessGrid& grid,
                                            const models::ModelEntry& model) {
  auto o =
      loader_options(values, corpus, role, grid, model.columns(), model.size_column, model.balance_column);
  o.split = plan.source_split(role);
  o.role = role;
  const auto it = plan.samples.find(role);
  o.subset = it == plan.samples.end() ? std::vector<std::uint64_t>{} : it->second;
  return o;
}

core::ClassificationReport evaluate_split(models::FinetuneTask& task, torch::nn::Module& module,
                                          const datasets::LoaderOptions& loader_options,
                                          distributed::ProcessGrid& grid) {
  datasets::Loader loader(loader_options);
  module.eval();
  task.begin_eval();
  for (std::uint64_t step = 0; step < loader.steps_per_epoch(); ++step) task.observe(loader.next());
  return task.report(grid.dp());
}

void save_classifier(torch::nn::Module& module, const std::string& config_json, const std::string& out_dir,
                     distributed::ProcessGrid& grid) {
  std::vector<std::pair<std::string, torch::Tensor>> whole;
  std::int64_t elements = 0;
  for (const auto& t : distributed::sharded_tensors(module)) {
    whole.emplace_back(t.name, distributed::gather_full(t, grid.tp()));
    elements += whole.back().second.numel();
  }
  if (grid.layout().rank != 0) return;
  const auto bytes = core::pickle_tensors(whole);
  core::write_file_atomically(out_dir + "/model.pt", bytes.data(), bytes.size());
  core::JsonObject json;
  json.set("tensors", static_cast<std::int64_t>(whole.size()))
      .set("elements", elements)
      .set_raw("model", config_json);
  core::write_file_atomically(out_dir + "/model.json", json.str() + "\n");
}

std::string split_policy_member(const std::string& corpus) {
  const auto settings = core::JsonValue::parse(datasets::read_manifest(corpus).encoder_settings_json);
  core::JsonObject policy;
  policy.set("split_by", settings.has("split_by") ? settings["split_by"].as_string() : std::string("flow"));
  if (settings.has("val_fraction")) policy.set("val_fraction", settings["val_fraction"].as_number());
  if (settings.has("test_fraction")) policy.set("test_fraction", settings["test_fraction"].as_number());
  policy.set("dedup_across_splits",
             settings.has("dedup_across_splits") && settings["dedup_across_splits"].as_bool());
  return "\"split_policy\": " + policy.str();
}

void write_report(const core::ClassificationReport& report, const std::string& extra_json_members,
                  const std::string& json_path) {
  std::string json = report.to_json();
  if (!extra_json_members.empty()) json.insert(json.size() - 1, ", " + extra_json_members);
  core::write_file_atomically(json_path, json + "\n");
  std::string txt = json_path;
  if (txt.size() > 5 && txt.compare(txt.size() - 5, 5, ".json") == 0) txt.resize(txt.size() - 5);
  core::write_file_atomically(txt + ".txt", report.table());
}

}  // namespace trafficfm::launch
