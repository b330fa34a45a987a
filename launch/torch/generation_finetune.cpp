// `trafficfm finetune --finetune.task generate`: Lens fine-tuned for next-packet header
// generation (models/lens/lens_generation_task.h) on the corpus's train split (no labels
// needed), from a pretraining run, checkpoint or Hugging Face directory (--from) or from
// scratch; val loss at every epoch; the final weights in DIR/model.pt + model.json, which
// `trafficfm generate --from DIR` reads.
#include <cmath>

#include "core/errors.h"
#include "core/log.h"
#include "launch/torch/classifier_io.h"
#include "launch/torch/torch_commands.h"
#include "launch/torch/training_setup.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;

int run_generation_finetune(const po::variables_map& values, const po::options_description& options) {
  const std::string from = values["from"].as<std::string>();
  const bool scratch = values["from-scratch"].as<bool>();
  if (from.empty() == !scratch)
    throw core::UsageError("give exactly one of --from RUN_OR_CKPT and --from-scratch");
  const auto& model = models::find_model(values["model"].as<std::string>());
  if (!model.make_generation_task)
    throw core::UsageError("model " + std::string(model.name) +
                           " does not generate (--finetune.task generate)");
  const std::string corpus = values["corpus"].as<std::string>(), out = values["out"].as<std::string>();
  const std::string resume = values["resume"].as<std::string>();
  if (resume != "auto" && resume != "none")
    throw core::UsageError("--resume must be auto or none, not '" + resume + "'");
  const std::uint64_t seed = run_seed(values);
  auto setup = make_training_setup(values);
  return run_collectively(*setup, [&] {
    auto& grid = *setup->grid;
    auto task = model.make_generation_task({grid, values, seed, setup->device});
    if (!from.empty()) {
      load_module_weights(task->model(), read_classifier_weights(from, nullptr), grid.tp(), from);
      core::log_info("finetune (generate): model from ", from);
    }
    auto train_options = loader_options(values, corpus, "train", grid, model.columns());
    train_options.seed = seed;
    datasets::Loader train(train_options);
    const double batch = global_batch(values, grid);
    const double epochs = values["finetune.epochs"].as<double>();
    const auto steps_per_epoch = static_cast<std::uint64_t>(std::ceil(train.samples_per_epoch() / batch));
    const std::uint64_t steps = epochs > 0 ? static_cast<std::uint64_t>(std::ceil(epochs * steps_per_epoch))
                                           : training_steps(values, grid, 0);
    auto trainer_opts =
        trainer_options(values, options, out, steps, epochs > 0 ? 0 : training_samples(values, 0), batch);
    trainer_opts.resume = resume == "auto";
    if (trainer_opts.eval_every == 0) trainer_opts.eval_every = std::max<std::uint64_t>(1, steps_per_epoch);
    prepare_run_directory(out, trainer_opts.config_ini, grid);
    std::unique_ptr<datasets::Loader> val;
    if (datasets::read_manifest(corpus).samples("val") > 0) {
      auto val_options = loader_options(values, corpus, "val", grid, model.columns());
      val = std::make_unique<datasets::Loader>(val_options);
    }
    core::log_info("finetune (generate) ", model.name, ": ", train.samples_per_epoch(), " training flows, ",
                   steps, " steps of ", batch, " samples");
    core::Trainer trainer(*task, train, val.get(), grid, trainer_opts);
    const auto result = trainer.run();
    if (result.exit_code != 0) {
      core::log_warn("finetune: stopped at step ", result.steps_done, ", exit code ", result.exit_code);
      return result.exit_code;
    }
    save_classifier(task->model(), task->config_json(), out, grid);
    core::log_info("finetune (generate): ", out, "/model.pt (trafficfm generate --from ", out, ")");
    return 0;
  });
}

}  // namespace trafficfm::launch
