#include "models/finetune/label_plan.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/json.h"
#include "datasets/corpus/manifest.h"
#include "datasets/loader/loader.h"

namespace trafficfm::models {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fisher-Yates with our own generator: the same choice on every platform and library.
void seeded_shuffle(std::vector<std::uint64_t>& v, std::uint64_t seed) {
  std::uint64_t state = seed;
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[splitmix64(state) % i]);
}

std::uint64_t name_hash(const std::string& name) {  // FNV-1a: the stream of a class
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::vector<std::string> present_splits(const datasets::Manifest& manifest) {
  std::vector<std::string> out;
  for (const char* split : datasets::kSplitNames) {
    if (manifest.samples(split) > 0) out.push_back(split);
  }
  return out;
}

void collect(LabelPlan& plan, const std::string& corpus, const std::vector<std::string>& splits,
             const std::map<std::string, std::vector<std::int32_t>>* known) {
  for (const auto& split : splits) {
    const auto labels = known ? known->at(split) : read_split_labels(corpus, split);
    auto& samples = plan.samples[split];
    auto& counts = plan.per_class[split];
    counts.assign(plan.classes.size(), 0);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const int id = labels[i];
      if (id < 0 || id >= static_cast<int>(plan.corpus_to_class.size()) || plan.corpus_to_class[id] < 0)
        continue;
      samples.push_back(i);
      ++counts[plan.corpus_to_class[id]];
    }
  }
}

}  // namespace

std::vector<std::int32_t> read_split_labels(const std::string& corpus, const std::string& split) {
  datasets::LoaderOptions o;
  o.corpus = corpus;
  o.split = split;
  o.batch_size = 4096;
  o.columns = {"label"};
  o.prefetch = 1;
  datasets::Loader loader(o);
  std::vector<std::int32_t> labels(loader.samples_per_epoch(), -1);
  for (std::uint64_t step = 0; step < loader.steps_per_epoch(); ++step) {
    const auto batch = loader.next();
    const auto* column = batch.column<std::int32_t>("label");
    for (std::size_t r = 0; r < batch.rows; ++r) labels[batch.sample_index[r]] = column[r];
  }
  return labels;
}

LabelPlan make_label_plan(const std::string& corpus, const LabelPlanOptions& options) {
  if (options.label_fraction <= 0 || options.label_fraction > 1) {
    throw std::invalid_argument("label fraction must be in (0, 1], not " +
                                std::to_string(options.label_fraction));
  }
  const auto manifest = datasets::read_manifest(corpus);
  if (manifest.label_names.empty())
    throw std::runtime_error(corpus + ": the corpus has no labels (prep --labels)");
  const auto splits = present_splits(manifest);
  std::map<std::string, std::vector<std::int32_t>> labels;
  // Classes are chosen from train and val counts only: which classes exist must not depend on
  // the test split (a class seen only in test would be chosen by looking at test).
  std::vector<std::uint64_t> total(manifest.label_names.size(), 0), in_train(manifest.label_names.size(), 0);
  for (const auto& split : splits) {
    labels[split] = read_split_labels(corpus, split);
    if (split == "test") continue;
    for (auto id : labels[split]) {
      if (id < 0 || id >= static_cast<int>(total.size())) continue;
      ++total[id];
      if (split == "train") ++in_train[id];
    }
  }
  LabelPlan plan;
  plan.options = options;
  plan.corpus_to_class.assign(manifest.label_names.size(), -1);
  for (std::size_t id = 0; id < manifest.label_names.size(); ++id) {
    const auto& name = manifest.label_names[id];
    const bool excluded =
        std::find(options.exclude.begin(), options.exclude.end(), name) != options.exclude.end();
    if (excluded || total[id] < options.min_class_samples || in_train[id] == 0) continue;
    plan.corpus_to_class[id] = static_cast<int>(plan.classes.size());
    plan.classes.push_back(name);
  }
  if (plan.classes.size() < 2) {
    throw std::runtime_error(corpus + ": " + std::to_string(plan.classes.size()) +
                             " class(es) have at least " + std::to_string(options.min_class_samples) +
                             " labeled samples; a classifier needs 2");
  }
  collect(plan, corpus, splits, &labels);
  // The labeled training share, per class.
  std::vector<std::vector<std::uint64_t>> by_class(plan.classes.size());
  for (auto i : plan.samples["train"]) by_class[plan.corpus_to_class[labels["train"][i]]].push_back(i);
  std::vector<std::uint64_t> chosen;
  auto& counts = plan.per_class["train"];
  for (std::size_t c = 0; c < by_class.size(); ++c) {
    auto& pool = by_class[c];
    seeded_shuffle(pool, options.seed ^ name_hash(plan.classes[c]));
    std::size_t take = options.shots > 0
                           ? options.shots
                           : static_cast<std::size_t>(std::llround(options.label_fraction * pool.size()));
    take = std::min(pool.size(), std::max<std::size_t>(take, pool.empty() ? 0 : 1));
    chosen.insert(chosen.end(), pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(take));
    counts[c] = take;
  }
  std::sort(chosen.begin(), chosen.end());
  if (chosen.empty()) throw std::runtime_error(corpus + ": no labeled training sample of the kept classes");
  plan.samples["train"] = chosen;
  return plan;
}

LabelPlan label_plan_for_classes(const std::string& corpus, const std::vector<std::string>& classes,
                                 const std::vector<std::string>& splits) {
  const auto manifest = datasets::read_manifest(corpus);
  LabelPlan plan;
  plan.classes = classes;
  plan.corpus_to_class.assign(manifest.label_names.size(), -1);
  for (std::size_t id = 0; id < manifest.label_names.size(); ++id) {
    const auto it = std::find(classes.begin(), classes.end(), manifest.label_names[id]);
    if (it != classes.end()) plan.corpus_to_class[id] = static_cast<int>(it - classes.begin());
  }
  collect(plan, corpus, splits, nullptr);
  return plan;
}

std::string LabelPlan::to_json() const {
  core::JsonObject counts, samples_json;
  for (const auto& [split, per] : per_class) {
    std::vector<double> as_double(per.begin(), per.end());
    counts.set(split, as_double);
  }
  std::string train = "[";
  const auto it = samples.find("train");
  if (it != samples.end()) {
    for (std::size_t i = 0; i < it->second.size(); ++i)
      train += (i ? "," : "") + std::to_string(it->second[i]);
  }
  train += "]";
  core::JsonObject out;
  out.set("classes", classes).set("seed", options.seed).set("label_fraction", options.label_fraction);
  out.set("shots", static_cast<std::uint64_t>(options.shots))
      .set("min_class_samples", static_cast<std::uint64_t>(options.min_class_samples));
  out.set("exclude", options.exclude).set("samples_per_class", counts).set_raw("train_samples", train);
  return out.str();
}

}  // namespace trafficfm::models
