#include "models/finetune/label_plan.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/json.h"
#include "datasets/corpus/manifest.h"
#include "datasets/loader/loader.h"
#include "models/finetune/classifier.h"

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

// A labelled unit as read from the corpus.
struct Labeled {
  std::uint64_t unit;
  std::int32_t label;
};
using RoleUnits = std::map<std::string, std::vector<Labeled>>;  // role -> units, sorted

std::string joined(const std::vector<std::string>& splits) {
  std::string out;
  for (const auto& s : splits) out += (out.empty() ? "" : "+") + s;
  return out;
}

// The classified nodes of every sample of `source` (joined splits), by the role their split
// column gives; roles outside `roles` are not kept.
RoleUnits read_node_units(const std::string& corpus, const std::string& source, const NodeLabels& nodes,
                          const std::vector<std::string>& roles) {
  datasets::LoaderOptions o;
  o.corpus = corpus;
  o.split = source;
  o.batch_size = 1024;
  o.columns = {nodes.label, nodes.split, nodes.target};
  o.prefetch = 1;
  datasets::Loader loader(o);
  RoleUnits out;
  for (std::uint64_t step = 0; step < loader.steps_per_epoch(); ++step) {
    const auto batch = loader.next();
    const auto& offsets = batch.offsets_of(nodes.label);
    if (batch.offsets_of(nodes.split) != offsets || batch.offsets_of(nodes.target) != offsets) {
      throw std::runtime_error(corpus + ": the node columns " + nodes.label + ", " + nodes.split + " and " +
                               nodes.target + " differ in length (corrupt corpus?)");
    }
    const auto* label = batch.column<std::int32_t>(nodes.label);
    const auto* split = batch.column<std::int8_t>(nodes.split);
    const auto* target = batch.column<std::uint8_t>(nodes.target);
    for (std::size_t r = 0; r < batch.rows; ++r) {
      for (std::uint64_t n = offsets[r]; n < offsets[r + 1]; ++n) {
        if (!target[n]) continue;
        if (split[n] < 0 || split[n] > 2) {
          throw std::runtime_error(corpus + ": sample " + std::to_string(batch.sample_index[r]) +
                                   " has a node of split " + std::to_string(split[n]) + " (corrupt corpus?)");
        }
        const std::string role = datasets::kSplitNames[split[n]];
        if (std::find(roles.begin(), roles.end(), role) == roles.end()) continue;
        out[role].push_back({label_unit(batch.sample_index[r], n - offsets[r]), label[n]});
      }
    }
  }
  for (auto& [role, units] : out) {
    std::sort(units.begin(), units.end(), [](const Labeled& a, const Labeled& b) { return a.unit < b.unit; });
  }
  return out;
}

// Every labelled unit of the roles `roles` (sample-level: the samples of those splits).
RoleUnits read_units(const std::string& corpus, const datasets::Manifest& manifest, const NodeLabels& nodes,
                     const std::vector<std::string>& roles, std::string* node_splits) {
  const auto present = present_splits(manifest);
  RoleUnits out;
  if (!nodes.empty()) {
    *node_splits = joined(present);
    out = read_node_units(corpus, *node_splits, nodes, roles);
  } else {
    for (const auto& role : roles) {
      if (std::find(present.begin(), present.end(), role) == present.end()) continue;
      const auto labels = read_split_labels(corpus, role);
      auto& units = out[role];
      for (std::size_t i = 0; i < labels.size(); ++i) units.push_back({label_unit(i, 0), labels[i]});
    }
  }
  for (const auto& role : roles) out[role];  // every asked role, if empty
  return out;
}

// Keeps the units of the plan's classes, per role, with their counts and samples.
void collect(LabelPlan& plan, const RoleUnits& all) {
  for (const auto& [role, units] : all) {
    auto& kept = plan.units[role];
    auto& counts = plan.per_class[role];
    counts.assign(plan.classes.size(), 0);
    for (const auto& u : units) {
      const int id = u.label;
      if (id < 0 || id >= static_cast<int>(plan.corpus_to_class.size()) || plan.corpus_to_class[id] < 0)
        continue;
      kept.push_back(u.unit);
      ++counts[plan.corpus_to_class[id]];
    }
  }
}

// The samples each role's units lie in.
void set_samples(LabelPlan& plan) {
  for (const auto& [role, units] : plan.units) {
    auto& samples = plan.samples[role];
    samples.clear();
    for (auto u : units) {
      if (samples.empty() || samples.back() != (u >> 32)) samples.push_back(u >> 32);
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
  LabelPlan plan;
  plan.options = options;
  const auto all = read_units(corpus, manifest, options.nodes, {"train", "val", "test"}, &plan.node_splits);
  // Classes are chosen from train and val counts only: which classes exist must not depend on
  // the test split (a class seen only in test would be chosen by looking at test).
  std::vector<std::uint64_t> total(manifest.label_names.size(), 0), in_train(manifest.label_names.size(), 0);
  for (const auto& [role, units] : all) {
    if (role == "test") continue;
    for (const auto& u : units) {
      if (u.label < 0 || u.label >= static_cast<int>(total.size())) continue;
      ++total[u.label];
      if (role == "train") ++in_train[u.label];
    }
  }
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
                             " labeled " + plan.unit_name() + "; a classifier needs 2");
  }
  collect(plan, all);
  // The labeled training share, per class.
  // The train units of each kept class, in unit order (the read order), without a lookup table.
  std::vector<std::vector<std::uint64_t>> by_class(plan.classes.size());
  for (const auto& u : all.at("train")) {
    if (u.label < 0 || u.label >= static_cast<int>(plan.corpus_to_class.size())) continue;
    const int c = plan.corpus_to_class[u.label];
    if (c >= 0) by_class[c].push_back(u.unit);
  }
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
  if (chosen.empty()) {
    throw std::runtime_error(corpus + ": no labeled training " + std::string(plan.unit_name()) +
                             " of the kept classes");
  }
  plan.units["train"] = chosen;
  set_samples(plan);
  return plan;
}

LabelPlan label_plan_for_classes(const std::string& corpus, const std::vector<std::string>& classes,
                                 const std::vector<std::string>& splits, const NodeLabels& nodes) {
  const auto manifest = datasets::read_manifest(corpus);
  LabelPlan plan;
  plan.options.nodes = nodes;
  plan.classes = classes;
  plan.corpus_to_class.assign(manifest.label_names.size(), -1);
  for (std::size_t id = 0; id < manifest.label_names.size(); ++id) {
    const auto it = std::find(classes.begin(), classes.end(), manifest.label_names[id]);
    if (it != classes.end()) plan.corpus_to_class[id] = static_cast<int>(it - classes.begin());
  }
  collect(plan, read_units(corpus, manifest, nodes, splits, &plan.node_splits));
  set_samples(plan);
  return plan;
}

std::string LabelPlan::to_json() const {
  core::JsonObject counts, samples_json;
  for (const auto& [split, per] : per_class) {
    std::vector<double> as_double(per.begin(), per.end());
    counts.set(split, as_double);
  }
  std::string train = "[", train_units = "[";
  const auto it = samples.find("train");
  if (it != samples.end()) {
    for (std::size_t i = 0; i < it->second.size(); ++i)
      train += (i ? "," : "") + std::to_string(it->second[i]);
  }
  train += "]";
  const auto u = units.find("train");
  if (u != units.end()) {
    for (std::size_t i = 0; i < u->second.size(); ++i) {
      train_units += std::string(i ? "," : "") + "[" + std::to_string(u->second[i] >> 32) + "," +
                     std::to_string(u->second[i] & 0xffffffffULL) + "]";
    }
  }
  train_units += "]";
  core::JsonObject out;
  out.set("classes", classes).set("seed", options.seed).set("label_fraction", options.label_fraction);
  out.set("shots", static_cast<std::uint64_t>(options.shots))
      .set("min_class_samples", static_cast<std::uint64_t>(options.min_class_samples));
  out.set("exclude", options.exclude).set("unit", std::string(unit_name())).set("samples_per_class", counts);
  out.set_raw("train_samples", train);
  // Node-labelled: the labelled nodes as [sample, node] (sample within node_splits).
  if (!options.nodes.empty()) out.set("node_splits", node_splits).set_raw("train_nodes", train_units);
  return out.str();
}

}  // namespace trafficfm::models
