// trafficfm export CKPT --out model.pt [--format pt|safetensors|hf]: one unsharded file of the
// model's tensors that Python opens with torch.load (a dict name -> tensor; --format safetensors:
// a .safetensors file), and beside it model.json: the model's configuration, the step and the
// layout it was trained at. --format hf (Lens): OUT is a directory in Hugging Face's T5 layout
// (models/lens/lens_hf.h). CKPT: a step directory, or a run
// directory (its newest valid checkpoint). A sharded checkpoint's tensor-parallel shards are
// joined (core/trainer/checkpoint_parts.h); any dp/tp layout gives the same file.
#include <filesystem>

#include "core/atomic_file.h"
#include "core/checkpoint_store.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/trainer/checkpoint_parts.h"
#include "core/trainer/safetensors.h"
#include "core/trainer/trainer_checkpoint.h"
#include "launch/common_options.h"
#include "launch/torch/torch_commands.h"
#include "models/lens/lens_hf.h"

namespace trafficfm::launch {

namespace po = core::po;

int run_export(const std::vector<std::string>& args) {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("checkpoint", po::value<std::string>()->required(),
                        "step directory or run directory (newest valid checkpoint)")(
      "out", po::value<std::string>()->required(),
      "file to write (model.pt); its .json sibling gets the config")(
      "with-state", po::value<bool>()->default_value(false),
      "also export non-trained state (an EMA teacher, FlowMix's statistics encoder) under their prefixes")(
      "format", po::value<std::string>()->default_value("pt"),
      "pt (torch.load) | safetensors | hf (Lens: OUT is a directory, T5 config.json + model.safetensors)")(
      "hf-extra-embeddings", po::value<std::string>()->default_value("refuse"),
      "refuse | keep: a Lens with segment/packet embeddings (HF T5 has no place for them) is refused, or "
      "they are written as extra tensors HF ignores");
  add_logging_options(options);
  po::positional_options_description positional;
  positional.add("checkpoint", 1);
  const auto values = core::parse_options("trafficfm export", options, args, &positional);
  if (values.count("help")) {
    print_help("usage: trafficfm export CKPT --out model.pt", options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string dir = core::resolve_checkpoint_dir(values["checkpoint"].as<std::string>());
  const std::string out = values["out"].as<std::string>();
  const bool with_state = values["with-state"].as<bool>();
  const std::string format = values["format"].as<std::string>();
  if (format != "pt" && format != "safetensors" && format != "hf")
    throw core::UsageError("--format must be pt, safetensors or hf, not '" + format + "'");
  const std::string extra_embeddings = values["hf-extra-embeddings"].as<std::string>();
  if (extra_embeddings != "refuse" && extra_embeddings != "keep")
    throw core::UsageError("--hf-extra-embeddings must be refuse or keep, not '" + extra_embeddings + "'");
  const core::CheckpointStore store(std::filesystem::path(dir).parent_path().parent_path().string());
  const auto meta = core::JsonValue::parse(store.read_part(dir, "meta.json"));
  std::vector<std::pair<std::string, torch::Tensor>> kept;
  std::int64_t elements = 0;
  for (auto& [name, tensor] : core::read_full_model(dir)) {  // whole tensors, from any layout's parts
    const bool extra = name.rfind("teacher.", 0) == 0 || name.rfind("flowmix.", 0) == 0;
    if (extra && !with_state) continue;
    elements += tensor.numel();
    kept.emplace_back(name, tensor);
  }
  if (format == "hf") {
    if (!meta.has("model")) throw core::UsageError(dir + " records no model configuration");
    const auto config = models::lens_config_from_json(meta["model"]);
    const auto written = models::write_hf_t5(out, kept, config, extra_embeddings == "keep");
    core::log_info("export: ", written, " tensors from ", dir, " -> ", out,
                   "/model.safetensors and config.json (Hugging Face T5 layout)");
    return core::kExitOk;
  }
  if (format == "safetensors") {
    core::write_safetensors(out, kept, {{"format", "pt"}, {"source", dir}});
  } else {
    const std::vector<char> pickled = core::pickle_tensors(kept);
    core::write_file_atomically(out, pickled.data(), pickled.size());
  }
  std::string config_path = out;
  for (const std::string suffix : {".pt", ".safetensors"}) {
    if (config_path.size() > suffix.size() &&
        config_path.compare(config_path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      config_path.resize(config_path.size() - suffix.size());
      break;
    }
  }
  config_path += ".json";
  core::JsonObject config;
  config.set("source", dir).set("step", static_cast<std::int64_t>(meta["step"].as_int()));
  config.set("tensors", static_cast<std::int64_t>(kept.size())).set("elements", elements);
  config.set_raw("layout", core::JsonObject()
                               .set("dp", static_cast<std::int64_t>(meta["layout"]["dp"].as_int()))
                               .set("tp", static_cast<std::int64_t>(meta["layout"]["tp"].as_int()))
                               .str());
  config.set_raw("model", meta.has("model") ? meta["model"].dump() : "{}");
  // Total and non-embedding counts of the trained model (recorded by checkpoints since the
  // FLOP accounting; an older checkpoint has only `elements`).
  if (meta.has("parameters")) config.set_raw("parameters", meta["parameters"].dump());
  core::write_file_atomically(config_path, config.str() + "\n");
  core::log_info("export: ", kept.size(), " tensors (", elements, " values) from ", dir, " -> ", out, " and ",
                 config_path);
  return core::kExitOk;
}

}  // namespace trafficfm::launch
