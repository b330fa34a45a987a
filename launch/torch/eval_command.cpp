// trafficfm eval --from RUN_OR_CKPT --corpus CORPUS [--split test] [--report FILE]: measures a
// fine-tuned classifier on a split of any labeled corpus (its classes matched by name; samples
// of other labels left out) and prints the report: accuracy, macro- and weighted-F1,
// per-class precision/recall/F1 and the confusion matrix. The model's options come from the
// run's config.ini unless --config says otherwise.
#include <filesystem>
#include <iostream>

#include "core/errors.h"
#include "core/json_value.h"
#include "core/log.h"
#include "launch/common_options.h"
#include "launch/torch/classifier_io.h"
#include "launch/torch/torch_commands.h"
#include "launch/torch/training_setup.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;
namespace fs = std::filesystem;

namespace {

// The fine-tuning run a --from names: the directory itself, or the run above a checkpoint.
std::string run_directory_of(const std::string& from) {
  fs::path p(from);
  for (int up = 0; up < 3 && !p.empty(); ++up, p = p.parent_path()) {
    if (fs::exists(p / "config.ini")) return p.string();
  }
  return "";
}

}  // namespace

int run_eval(const std::vector<std::string>& given) {
  std::vector<std::string> args = given;
  bool has_config = false, wants_help = false;
  std::string from;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" || args[i].rfind("--config=", 0) == 0) has_config = true;
    if (args[i] == "--help" || args[i] == "-h") wants_help = true;
    if (args[i] == "--from" && i + 1 < args.size()) from = args[i + 1];
    if (args[i].rfind("--from=", 0) == 0) from = args[i].substr(7);
  }
  const std::string run = from.empty() ? "" : run_directory_of(from);
  if (!has_config && !run.empty() && !wants_help) {
    args.push_back("--config");
    args.push_back(run + "/config.ini");
  }
  const auto options = finetune_options(/*for_eval=*/true);
  const auto values = core::parse_options("trafficfm eval", options, args);
  if (values.count("help")) {
    print_help("usage: trafficfm eval --from RUN_OR_CKPT --corpus CORPUS [--split test] [--report FILE]",
               options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const auto& model = models::find_model(values["model"].as<std::string>());
  if (!model.make_classifier) {
    throw core::UsageError("model " + std::string(model.name) +
                           " has no classification head yet (pretraining only)");
  }
  const std::string corpus = values["corpus"].as<std::string>(), split = values["split"].as<std::string>();
  if (split != "train" && split != "val" && split != "test")
    throw core::UsageError("--split must be train, val or test");
  auto setup = make_training_setup(values);
  return run_collectively(*setup, [&] {
    auto& grid = *setup->grid;
    std::string config_json;
    const auto tensors = read_classifier_weights(values["from"].as<std::string>(), &config_json);
    const auto config = core::JsonValue::parse(config_json);
    if (!config.has("classes"))
      throw std::runtime_error(values["from"].as<std::string>() +
                               " is not a fine-tuned classifier (no classes)");
    std::vector<std::string> classes;
    for (const auto& c : config["classes"].as_array()) classes.push_back(c.as_string());
    const auto plan = models::label_plan_for_classes(
        corpus, classes, {split}, model.node_labels ? model.node_labels() : models::NodeLabels{});
    if (plan.units.at(split).empty()) {
      throw std::runtime_error(corpus + ": split '" + split + "' has no " + plan.unit_name() +
                               " of the model's classes");
    }
    models::TaskContext context{grid, values, run_seed(values), setup->device, 0.0};
    context.corpus_settings = datasets::read_manifest(corpus).encoder_settings_json;
    auto classifier = model.make_classifier(context, static_cast<std::int64_t>(classes.size()));
    load_module_weights(classifier->module(), tensors, grid.tp(), values["from"].as<std::string>());
    // Only observe() and report() are used: no model selection, so no second copy for the best.
    models::FinetuneTask task(*classifier, *classifier, plan, {}, setup->device);
    const auto loader = role_loader_options(values, corpus, plan, split, grid, model);
    const auto report = evaluate_split(task, classifier->module(), loader, grid);
    if (grid.layout().rank == 0) {
      std::cout << "eval: " << values["from"].as<std::string>() << " on " << corpus << " (" << split << ", "
                << report.samples << " " << plan.unit_name() << ")\n"
                << report.table() << std::flush;
      const std::string path = values["report"].as<std::string>();
      if (!path.empty())
        write_report(report, "\"split\": \"" + split + "\", " + split_policy_member(corpus), path);
    }
    return core::kExitOk;
  });
}

}  // namespace trafficfm::launch
