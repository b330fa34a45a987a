// trafficfm finetune --config FILE --corpus CORPUS (--from RUN_OR_CKPT | --from-scratch) --out DIR
// [--label-fraction F] [--shots K] [--seed S]: fine-tunes a classifier on a labeled corpus.
// The labeled share is a seeded stratified choice (DIR/labeled_subset.json); the model with the
// best val macro-F1 is kept (DIR/model.pt, model.json) and measured on test (DIR/report.json,
// report.txt). Runs alone or under mpirun/srun (dp x tp) like pretrain, with checkpoints.
#include <cmath>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/log.h"
#include "launch/common_options.h"
#include "launch/torch/classifier_io.h"
#include "launch/torch/torch_commands.h"
#include "launch/torch/training_setup.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;

std::uint64_t run_seed(const po::variables_map& values) {
  return values.count("seed") ? values["seed"].as<std::uint64_t>() : values["train.seed"].as<std::uint64_t>();
}

int run_finetune(const std::vector<std::string>& args) {
  const auto options = finetune_options(/*for_eval=*/false);
  const auto values = core::parse_options("trafficfm finetune", options, args);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm finetune --config FILE --corpus CORPUS (--from RUN_OR_CKPT | --from-scratch) --out "
        "DIR "
        "[--label-fraction F] [--shots K] [--seed S]",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string what = values["finetune.task"].as<std::string>();
  if (what == "generate") return run_generation_finetune(values, options);
  if (what != "classify")
    throw core::UsageError("--finetune.task must be classify or generate, not '" + what + "'");
  const std::string from = values["from"].as<std::string>();
  const bool scratch = values["from-scratch"].as<bool>();
  if (from.empty() == !scratch)
    throw core::UsageError("give exactly one of --from RUN_OR_CKPT and --from-scratch");
  const auto& model = models::find_model(values["model"].as<std::string>());
  if (!model.make_classifier) {
    throw core::UsageError("model " + std::string(model.name) +
                           " has no classification head yet (pretraining only)");
  }
  if (model.size_column &&
      (values["train.samples"].as<std::uint64_t>() > 0 || values["train.tokens"].as<double>() > 0)) {
    throw core::UsageError("model " + std::string(model.name) + " batches by " + model.size_column +
                           " (--train.batch-nodes): give its length in --train.steps or --finetune.epochs");
  }
  const std::string corpus = values["corpus"].as<std::string>(), out = values["out"].as<std::string>();
  const std::uint64_t seed = run_seed(values);
  models::LabelPlanOptions plan_options;
  plan_options.min_class_samples = values["finetune.min-class-samples"].as<std::size_t>();
  plan_options.exclude = core::split_list(values["finetune.exclude-labels"].as<std::string>());
  plan_options.label_fraction = values["label-fraction"].as<double>();
  plan_options.shots = values["shots"].as<std::size_t>();
  plan_options.seed = seed;
  if (model.node_labels) plan_options.nodes = model.node_labels();
  if (plan_options.label_fraction <= 0 || plan_options.label_fraction > 1) {
    throw core::UsageError("--label-fraction must be in (0, 1]");
  }
  const std::string resume = values["resume"].as<std::string>();
  if (resume != "auto" && resume != "none")
    throw core::UsageError("--resume must be auto or none, not '" + resume + "'");
  auto setup = make_training_setup(values);
  return run_collectively(*setup, [&] {
    auto& grid = *setup->grid;
    const auto plan = models::make_label_plan(corpus, plan_options);
    models::TaskContext context{grid, values, seed, setup->device, values["finetune.drop-path"].as<double>()};
    context.corpus_settings = datasets::read_manifest(corpus).encoder_settings_json;
    auto classifier = model.make_classifier(context, static_cast<std::int64_t>(plan.classes.size()));
    if (!from.empty()) {
      std::string ignored;
      const auto tensors = read_classifier_weights(from, &ignored);
      const auto loaded = classifier->load_pretrained(tensors, grid.tp());
      core::log_info("finetune: encoder from ", from, " (", loaded, " tensors)");
    } else {
      core::log_info("finetune: from scratch (random encoder)");
    }
    classifier->freeze(values["finetune.freeze"].as<std::string>());
    models::FinetuneOptions task_options;
    task_options.label_smoothing = values["finetune.label-smoothing"].as<double>();
    task_options.layer_decay = values["finetune.layer-decay"].as<double>();
    auto best = model.make_classifier(context, static_cast<std::int64_t>(plan.classes.size()));
    models::FinetuneTask task(*classifier, *best, plan, task_options, setup->device);

    auto train_options = role_loader_options(values, corpus, plan, "train", grid, model);
    train_options.seed = seed;
    datasets::Loader train(train_options);
    const double batch = global_batch(values, grid);
    const double epochs = values["finetune.epochs"].as<double>();
    const std::uint64_t steps_per_epoch = train.steps_per_epoch();
    const std::uint64_t steps = epochs > 0 ? static_cast<std::uint64_t>(std::ceil(epochs * steps_per_epoch))
                                           : training_steps(values, grid, 0);
    auto trainer_opts =
        trainer_options(values, options, out, steps, epochs > 0 ? 0 : training_samples(values, 0), batch);
    trainer_opts.resume = resume == "auto";
    if (trainer_opts.eval_every == 0) trainer_opts.eval_every = std::max<std::uint64_t>(1, steps_per_epoch);
    trainer_opts.eval_batches = SIZE_MAX;  // model selection sees all of val
    prepare_run_directory(out, trainer_opts.config_ini, grid);
    if (grid.layout().rank == 0)
      core::write_file_atomically(out + "/labeled_subset.json", plan.to_json() + "\n");
    std::unique_ptr<datasets::Loader> val;
    if (plan.samples.count("val") && !plan.samples.at("val").empty()) {
      auto val_options = role_loader_options(values, corpus, plan, "val", grid, model);
      val_options.seed = seed;
      val = std::make_unique<datasets::Loader>(val_options);
    }
    std::string counts;
    for (std::size_t c = 0; c < plan.classes.size(); ++c) {
      counts += (c ? ", " : "") + plan.classes[c] + " " + std::to_string(plan.per_class.at("train")[c]);
    }
    const std::string batch_unit =
        model.size_column ? std::string(" ") + model.size_column + " (at most)" : " samples";
    core::log_info("finetune ", model.name, ": ", plan.classes.size(), " classes, ",
                   plan.units.at("train").size(), " labeled training ", plan.unit_name(), " (", counts,
                   ") in ", train_options.subset.size(), " samples; ", steps, " steps of ",
                   grid.layout().dp * train.batch_size() * trainer_opts.accumulation, batch_unit);
    core::Trainer trainer(task, train, val.get(), grid, trainer_opts);
    const auto result = trainer.run();
    if (result.exit_code != 0) {
      core::log_warn("finetune: stopped at step ", result.steps_done, ", exit code ", result.exit_code);
      return result.exit_code;
    }
    if (task.restore_best()) {
      core::log_info("finetune: selected the model of step ", task.best_step(), " (val macro-F1 ",
                     task.best_val_macro_f1(), ")");
    }
    // Without a test split the report is on val, which also chose the model: labelled as such
    // everywhere it appears, never as a test score.
    const bool has_test = plan.samples.count("test") && !plan.samples.at("test").empty();
    const std::string split = has_test ? "test" : "val";
    const std::string split_label =
        has_test ? "test" : "val, used for model selection (the corpus has no test split)";
    if (!has_test) core::log_warn("finetune: no test sample of the kept classes; reporting on ", split_label);
    auto eval_options = role_loader_options(values, corpus, plan, split, grid, model);
    if (eval_options.subset.empty())
      throw std::runtime_error(corpus + ": no test or val sample of the kept classes");
    const auto report = evaluate_split(task, classifier->module(), eval_options, grid);
    save_classifier(classifier->module(), task.config_json(), out, grid);
    if (grid.layout().rank == 0) {
      core::JsonObject extra;
      extra.set("split", split).set("held_out", has_test).set("split_label", split_label);
      extra.set("best_step", task.best_step()).set("val_macro_f1", task.best_val_macro_f1());
      extra.set("from", scratch ? std::string("scratch") : from)
          .set("label_fraction", plan_options.label_fraction);
      extra.set("shots", static_cast<std::uint64_t>(plan_options.shots)).set("seed", seed);
      extra.set("labeled_train_samples", static_cast<std::uint64_t>(train_options.subset.size()));
      extra.set("labeled_train_units", static_cast<std::uint64_t>(plan.units.at("train").size()))
          .set("unit", std::string(plan.unit_name()));
      const std::string members =
          extra.str().substr(1, extra.str().size() - 2) + ", " + split_policy_member(corpus);
      write_report(report, members, out + "/report.json");
      std::cout << "finetune: " << split_label << " split, " << report.samples << " " << plan.unit_name()
                << "\n"
                << report.table() << std::flush;
      core::log_info("finetune: ", split_label, " accuracy ", report.accuracy, ", macro-F1 ", report.macro_f1,
                     ", weighted-F1 ", report.weighted_f1, " -> ", out, "/report.json");
    }
    return core::kExitOk;
  });
}

}  // namespace trafficfm::launch
