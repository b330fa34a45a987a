// trafficfm generate --from RUN --corpus C [--split test] --out DIR [--top-k K --temperature T]
// [--limit N] [--seed S]: next-packet generation with Lens (models/lens/next_packet.h). For each
// sample of at least 2 packets the decoder writes packet K's header from the first K - 1
// packets (greedy unless --top-k), one line per sample in DIR/generated.jsonl (index, context,
// generated, and the decoded fields of the generated and the real header), and DIR/report.json:
// per header field, exact-match accuracy, Jensen-Shannon divergence and total variation between
// the generated and the real field distributions over the split, beside two baselines in the
// same run: copy packet K - 1's field, and sample it from the train split's marginal.
// RUN: a generation fine-tuning run (model.pt + model.json), a pretraining run or checkpoint,
// or a Hugging Face T5 directory. Runs in one process.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "datasets/corpus/manifest.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/tensor_parallel_state.h"
#include "launch/common_options.h"
#include "launch/torch/classifier_io.h"
#include "launch/torch/torch_commands.h"
#include "models/lens/header_fields.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_generate.h"
#include "models/lens/lens_hf.h"
#include "models/lens/next_packet.h"

namespace trafficfm::launch {

namespace po = core::po;
using models::Histogram;

namespace {

std::unique_ptr<models::LensModel> load_lens(const std::string& from, distributed::Communicator& tp) {
  models::LensConfig config;
  std::map<std::string, torch::Tensor> tensors;
  if (models::is_hf_directory(from)) {
    tensors = models::read_hf_t5(from, &config);
  } else {
    std::string config_json;
    tensors = read_classifier_weights(from, &config_json);
    config = models::lens_config_from_json(core::JsonValue::parse(config_json));
  }
  auto model = std::make_unique<models::LensModel>(config, tp);
  torch::NoGradGuard no_grad;
  for (const auto& t : distributed::sharded_tensors(*model)) {
    const auto it = tensors.find(t.name);
    if (it == tensors.end())
      throw std::runtime_error(from + " has no tensor '" + t.name + "' (not a Lens model?)");
    if (!distributed::copy_local_shard(t, it->second, tp))
      throw std::runtime_error(from + ": '" + t.name + "' has shape " + c10::str(it->second.sizes()) +
                               ", the model expects " + c10::str(t.tensor.sizes()));
  }
  model->eval();
  return model;
}

datasets::LoaderOptions split_loader(const std::string& corpus, const std::string& split, std::size_t batch) {
  datasets::LoaderOptions o;
  o.corpus = corpus;
  o.split = split;
  o.batch_size = batch;
  o.columns = models::lens_columns();
  return o;
}

std::string ids_json(const std::vector<std::int32_t>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

std::string fields_json(const std::map<std::string, std::int64_t>& fields) {
  core::JsonObject o;
  for (const auto& [name, value] : fields) o.set(name, value);
  return o.str();
}

// One predictor's tally for one field: exact matches against the real value and the
// distribution of its values.
struct Tally {
  double exact = 0, compared = 0;
  Histogram values;
  void add(const std::map<std::string, std::int64_t>& predicted, const std::string& field,
           std::int64_t real) {
    ++compared;
    const auto it = predicted.find(field);
    if (it == predicted.end()) return;  // no value: counts as a miss
    values[it->second] += 1;
    if (it->second == real) ++exact;
  }
  std::string json(const Histogram& real) const {
    return core::JsonObject()
        .set("exact_match", compared > 0 ? exact / compared : 0.0)
        .set("jsd", models::jensen_shannon(values, real))
        .set("tvd", models::total_variation(values, real))
        .set("with_value", total_of(values))
        .str();
  }
  static double total_of(const Histogram& h) {
    double t = 0;
    for (const auto& [v, c] : h) t += c;
    return t;
  }
};

// Draws a value from a histogram (the marginal baseline).
std::int64_t draw(const Histogram& h, core::Rng& rng) {
  const double u = rng.uniform() * Tally::total_of(h);
  double at = 0;
  for (const auto& [value, count] : h) {
    at += count;
    if (u < at) return value;
  }
  return h.rbegin()->first;
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()(
      "from", po::value<std::string>()->required(),
      "generation fine-tuning run, pretraining run or checkpoint, or Hugging Face T5 directory")(
      "corpus", po::value<std::string>()->required(), "lens corpus")(
      "split", po::value<std::string>()->default_value("test"), "split to generate for")(
      "out", po::value<std::string>()->required(), "directory for generated.jsonl and report.json")(
      "greedy", po::value<bool>()->default_value(true)->implicit_value(true),
      "greedy decoding (the default; --top-k > 0 samples instead)")(
      "top-k", po::value<std::int64_t>()->default_value(0), "> 0: sample among the k likeliest tokens")(
      "temperature", po::value<double>()->default_value(1.0), "sampling temperature (with --top-k)")(
      "max-tokens", po::value<std::int64_t>()->default_value(64), "header tokens generated at most")(
      "constrain", po::value<std::string>()->default_value("header"),
      "header: only tokens that continue a well-formed header (bigrams that overlap, </s> where "
      "the header's own length fields end it); none: any token")(
      "limit", po::value<std::size_t>()->default_value(0), "samples of the split at most (0: all)")(
      "batch-size", po::value<std::size_t>()->default_value(32), "samples generated together")(
      "seed", po::value<std::uint64_t>()->default_value(0), "seed of sampling and of the marginal baseline");
  add_logging_options(options);
  const auto values = core::parse_options("trafficfm generate", options, args);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm generate --from RUN --corpus C --split test --out DIR [--top-k K --temperature T]",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string from = values["from"].as<std::string>(), corpus = values["corpus"].as<std::string>();
  const std::string split = values["split"].as<std::string>(), out = values["out"].as<std::string>();
  models::GenerateOptions generation;
  generation.top_k = values["top-k"].as<std::int64_t>();
  generation.temperature = values["temperature"].as<double>();
  generation.max_tokens = values["max-tokens"].as<std::int64_t>();
  generation.seed = values["seed"].as<std::uint64_t>();
  if (generation.top_k < 0 || generation.temperature <= 0 || generation.max_tokens < 1)
    throw core::UsageError("--top-k must be >= 0, --temperature > 0 and --max-tokens >= 1");
  const std::string constrain = values["constrain"].as<std::string>();
  if (constrain != "header" && constrain != "none")
    throw core::UsageError("--constrain must be header or none, not '" + constrain + "'");
  generation.constrain_header = constrain == "header";
  if (generation.constrain_header) {
    const auto manifest = datasets::read_manifest(corpus);
    const auto settings = core::JsonValue::parse(manifest.encoder_settings_json);
    if (settings.has("tokenizer") && settings["tokenizer"].as_string() != "bigram")
      throw core::UsageError("--constrain header needs the bigram vocabulary; " + corpus + " uses the '" +
                             settings["tokenizer"].as_string() + "' tokenizer: use --constrain none");
  }
  const std::size_t limit = values["limit"].as<std::size_t>(),
                    batch_size = values["batch-size"].as<std::size_t>();
  auto tp = distributed::make_local_communicator();
  auto model = load_lens(from, *tp);
  std::filesystem::create_directories(out);

  // The marginal baseline's distributions: the real fields of the train split.
  std::map<std::string, Histogram> marginal;
  {
    datasets::Loader train(split_loader(corpus, "train", batch_size));
    std::size_t seen = 0;
    for (std::uint64_t s = 0; s < train.steps_per_epoch() && (limit == 0 || seen < limit); ++s) {
      const auto ex = models::next_packet_examples(train.next(), torch::kCPU);
      for (std::size_t r = 0; r < ex.usable.size(); ++r, ++seen) {
        if (!ex.usable[r]) continue;
        for (const auto& [name, value] : models::header_fields(models::header_bytes(ex.real_header[r])))
          marginal[name][value] += 1;
      }
    }
  }
  datasets::Loader loader(split_loader(corpus, split, batch_size));
  const std::uint64_t steps = loader.steps_per_epoch();
  core::Progress progress("generate", steps, "batches");
  std::map<std::string, Histogram> real;
  std::map<std::string, Tally> model_tally, copy_tally, marginal_tally;
  core::Rng rng(generation.seed, 77);
  std::string lines;
  std::size_t samples = 0, usable = 0;
  for (std::uint64_t s = 0; s < steps && (limit == 0 || samples < limit); ++s) {
    const auto batch = loader.next();
    const auto ex = models::next_packet_examples(batch, torch::kCPU);
    auto options_now = generation;
    options_now.seed = generation.seed + s;  // every batch its own draws, reproducible
    const auto generated_ids = models::generate(*model, ex.input, options_now);
    const auto generated = generated_ids.accessor<std::int64_t, 2>();
    for (std::size_t r = 0; r < ex.usable.size() && (limit == 0 || samples < limit); ++r, ++samples) {
      if (!ex.usable[r]) continue;
      ++usable;
      std::vector<std::int32_t> ids;
      for (std::int64_t i = 0; i < generated_ids.size(1); ++i) {
        const auto id = static_cast<std::int32_t>(generated[static_cast<std::int64_t>(r)][i]);
        if (id == datasets::lens_vocab::kEos || id == datasets::lens_vocab::kPad) break;
        ids.push_back(id);
      }
      const auto fields = models::header_fields(models::header_bytes(ids));
      const auto truth = models::header_fields(models::header_bytes(ex.real_header[r]));
      const auto previous = models::header_fields(models::header_bytes(ex.previous_header[r]));
      for (const auto& [name, value] : truth) {
        real[name][value] += 1;
        model_tally[name].add(fields, name, value);
        copy_tally[name].add(previous, name, value);
        if (marginal.count(name)) marginal_tally[name].add({{name, draw(marginal[name], rng)}}, name, value);
      }
      lines += core::JsonObject()
                   .set("index", static_cast<std::uint64_t>(batch.sample_index[r]))
                   .set_raw("context", ids_json(ex.context[r]))
                   .set_raw("generated", ids_json(ids))
                   .set_raw("fields", fields_json(fields))
                   .set_raw("real_fields", fields_json(truth))
                   .str() +
               "\n";
    }
    progress.advance();
  }
  progress.finish();
  core::write_file_atomically(out + "/generated.jsonl", lines);
  core::JsonObject fields_report;
  std::printf("%-16s %9s %22s %22s %22s\n", "field (samples)", "", "model exact/JSD/TVD", "copy-previous",
              "train marginal");
  for (const auto& [name, histogram] : real) {
    const auto& m = model_tally[name];
    fields_report.set_raw(name, core::JsonObject()
                                    .set("samples", m.compared)
                                    .set_raw("model", m.json(histogram))
                                    .set_raw("copy_previous", copy_tally[name].json(histogram))
                                    .set_raw("marginal", marginal_tally[name].json(histogram))
                                    .str());
    auto row = [&](const Tally& t) {
      char cell[64];
      std::snprintf(cell, sizeof cell, "%.3f/%.3f/%.3f", t.compared > 0 ? t.exact / t.compared : 0.0,
                    models::jensen_shannon(t.values, histogram),
                    models::total_variation(t.values, histogram));
      return std::string(cell);
    };
    std::printf("%-16s %9.0f %22s %22s %22s\n", name.c_str(), m.compared, row(m).c_str(),
                row(copy_tally[name]).c_str(), row(marginal_tally[name]).c_str());
  }
  const std::string sampling = generation.top_k > 0
                                   ? "top-k " + std::to_string(generation.top_k) + ", temperature " +
                                         std::to_string(generation.temperature) + ", seed " +
                                         std::to_string(generation.seed)
                                   : "greedy";
  core::JsonObject report;
  report.set("from", from)
      .set("corpus", corpus)
      .set("split", split)
      .set("samples", static_cast<std::uint64_t>(samples));
  report.set("usable", static_cast<std::uint64_t>(usable)).set("sampling", sampling);
  report.set("max_tokens", generation.max_tokens)
      .set("constrain", constrain)
      .set_raw("fields", fields_report.str());
  core::write_file_atomically(out + "/report.json", report.str() + "\n");
  core::log_info("generate: ", usable, " of ", samples, " samples had a next packet; ", out,
                 "/generated.jsonl and report.json");
  return core::kExitOk;
}

}  // namespace trafficfm::launch
