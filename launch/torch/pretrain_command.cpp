// trafficfm pretrain --config FILE --corpus CORPUS --out RUN [--train.steps N] [--resume auto]
// [--parallel.tp N] [--from RUN_CKPT_OR_HF_DIR]: pretrains a model on a corpus, alone or under
// mpirun/srun (dp x tp), from random or given initial weights.
// RUN holds config.ini, metrics.jsonl, eval.jsonl, log/rank-N.log and checkpoints/.
#include <iostream>

#include "core/errors.h"
#include "core/log.h"
#include "core/trainer/parameter_count.h"
#include "datasets/corpus/manifest.h"
#include "launch/common_options.h"
#include "launch/torch/classifier_io.h"
#include "launch/torch/torch_commands.h"
#include "launch/torch/training_setup.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;

po::options_description pretrain_options() {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("model", po::value<std::string>()->default_value("mmae"),
                        "model to pretrain (mmae | lens)")("corpus", po::value<std::string>()->required(),
                                                           "corpus directory written by `trafficfm prep`")(
      "out", po::value<std::string>()->required(), "run directory (metrics, logs, checkpoints)")(
      "resume", po::value<std::string>()->default_value("none"),
      "auto: continue from the newest valid checkpoint in --out (fresh start when none) | none")(
      "from", po::value<std::string>()->default_value(""),
      "initial weights (continued pretraining): a pretraining run, a checkpoint or a Hugging Face T5 "
      "directory; tensors it lacks keep their initialization, a resumed checkpoint takes precedence");
  add_training_options(options);
  for (const auto& model : models::model_registry()) model.add_options(options);
  add_logging_options(options);
  return options;
}

// Builds the validation loader when the corpus has a val split.
std::unique_ptr<datasets::Loader> make_val_loader(const po::variables_map& values, const std::string& corpus,
                                                  const distributed::ProcessGrid& grid,
                                                  const models::ModelEntry& model) {
  if (datasets::read_manifest(corpus).samples("val") == 0) return nullptr;
  auto options =
      loader_options(values, corpus, "val", grid, model.columns(), model.size_column, model.balance_column);
  return std::make_unique<datasets::Loader>(options);
}

namespace {

// Tokens per sample for --train.tokens. A model counting its tokens per batch (Lens: they follow
// each sample's length) reports no constant; a probe task of the same model, built before the
// training task (which seeds and initializes as it would alone), measures the mean over the
// first train samples, the same on every rank and at every dp, so a resume at another dp keeps
// the run's length. Runs defined otherwise need no probe.
constexpr int kTokenProbeBatches = 16;
double run_tokens_per_sample(const po::variables_map& values, const models::ModelEntry& model,
                             const models::TaskContext& context, const std::string& corpus,
                             const distributed::ProcessGrid& grid) {
  if (!(values["train.tokens"].as<double>() > 0)) return 0.0;
  auto probe = model.make_pretrain_task(context);
  if (probe->tokens_per_sample() > 0) return probe->tokens_per_sample();
  const auto options = loader_options(values, corpus, "train", grid, model.columns());
  const double tokens = measure_per_sample(*probe, options, kTokenProbeBatches).tokens;
  core::log_info("--train.tokens: ", tokens, " tokens per sample, the mean over the first ",
                 kTokenProbeBatches * options.batch_size, " train samples (at most)");
  return tokens;
}

}  // namespace

int run_pretrain(const std::vector<std::string>& args) {
  const auto options = pretrain_options();
  const auto values = core::parse_options("trafficfm pretrain", options, args);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm pretrain --config FILE --corpus CORPUS --out RUN [--resume auto] [--parallel.tp N]",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const auto& model = models::find_model(values["model"].as<std::string>());
  const std::string resume = values["resume"].as<std::string>();
  if (resume != "auto" && resume != "none")
    throw core::UsageError("--resume must be auto or none, not '" + resume + "'");
  const std::string corpus = values["corpus"].as<std::string>(), out = values["out"].as<std::string>();
  const auto manifest = datasets::read_manifest(corpus);
  if (manifest.encoder != model.encoding) {
    throw core::UsageError("corpus " + corpus + " holds the '" + manifest.encoder + "' encoding; model " +
                           model.name + " reads '" + model.encoding + "' (trafficfm prep --encoder " +
                           model.encoding + ")");
  }
  if (model.size_column &&
      (values["train.samples"].as<std::uint64_t>() > 0 || values["train.tokens"].as<double>() > 0)) {
    throw core::UsageError("model " + std::string(model.name) + " batches by " + model.size_column +
                           " (--train.batch-nodes): give its length in --train.steps");
  }
  auto setup = make_training_setup(values);
  return run_collectively(*setup, [&] {
    models::TaskContext context{*setup->grid, values, setup->seed, setup->device};
    context.corpus_settings = manifest.encoder_settings_json;
    const double tokens_per_sample = run_tokens_per_sample(values, model, context, corpus, *setup->grid);
    auto task = model.make_pretrain_task(context);
    if (const std::string from = values["from"].as<std::string>(); !from.empty()) {
      const auto missing = load_module_weights_present(task->model(), read_classifier_weights(from, nullptr),
                                                       setup->grid->tp(), from);
      std::string kept;
      for (const auto& name : missing) kept += (kept.empty() ? "" : ", ") + name;
      core::log_info("pretrain: initial weights from ", from,
                     missing.empty() ? std::string() : "; kept at their initialization: " + kept);
    }
    const std::uint64_t steps = training_steps(values, *setup->grid, tokens_per_sample);
    auto trainer_opts =
        trainer_options(values, options, out, steps, training_samples(values, tokens_per_sample),
                        global_batch(values, *setup->grid));
    trainer_opts.resume = resume == "auto";
    prepare_run_directory(out, trainer_opts.config_ini, *setup->grid);
    datasets::Loader train(loader_options(values, corpus, "train", *setup->grid, model.columns(),
                                          model.size_column, model.balance_column));
    auto val = make_val_loader(values, corpus, *setup->grid, model);
    const auto parameters = core::count_parameters(*task, setup->grid->layout().tp);
    const auto& layout = setup->grid->layout();
    const std::string batch_unit =
        model.size_column ? std::string(" ") + model.size_column + " (at most)" : " samples";
    core::log_info("pretrain ", model.name, ": ", parameters.total, " parameters (", parameters.non_embedding,
                   " non-embedding), world ", layout.world, " = dp ", layout.dp, " x tp ", layout.tp, ", ",
                   steps, " steps of ", layout.dp * train.batch_size() * trainer_opts.accumulation,
                   batch_unit, "; train split ", train.samples_per_epoch(), " samples",
                   task->flops_per_sample() > 0
                       ? "; " + std::to_string(task->flops_per_sample() / 1e9) + " GFLOP per sample"
                       : std::string("; FLOPs counted per batch") +
                             (task->flops_rates().empty() ? "" : " (" + task->flops_rates() + ")"));
    core::Trainer trainer(*task, train, val.get(), *setup->grid, trainer_opts);
    const auto result = trainer.run();
    if (result.exit_code != 0)
      core::log_warn("pretrain: stopped at step ", result.steps_done, ", exit code ", result.exit_code);
    return result.exit_code;
  });
}

}  // namespace trafficfm::launch
