// Which labels a fine-tuning run learns and from which units. A unit is a sample, or for a
// node-labelled corpus (graphs) one node of a sample: its label, split and whether it is
// classified come from per-node columns (NodeLabels), and a role's units then lie in the
// samples of every split (a graph holds flows of all three splits; training sees only the
// train split's labels).
//
// The classes are the corpus labels with at least `min_class_samples` labeled units in train
// and val together (test is never looked at to choose them) and at least one in train, minus
// those named in `exclude` (an "Unspecified" category, say). The labeled training share is a
// seeded, stratified choice per class: `shots` units (all when fewer) or, without shots, a
// `label_fraction` of them (at least one). val and test keep every unit of the kept classes.
// The plan is written to the run directory, so a run can be repeated and audited.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trafficfm::models {

// A node-labelled corpus's ragged per-node columns: label (int32 label id, -1 none), split
// (int8: 0 train, 1 val, 2 test) and target (uint8: 1 = the node is classified). Empty: the
// corpus labels samples (its "label" column, its samples' shard splits).
struct NodeLabels {
  std::string label, split, target;
  bool empty() const { return label.empty(); }
};

struct LabelPlanOptions {
  std::size_t min_class_samples = 1;  // labeled units
  std::vector<std::string> exclude;
  double label_fraction = 1.0;
  std::size_t shots = 0;  // per class; 0: use label_fraction
  std::uint64_t seed = 0;
  NodeLabels nodes;
};

struct LabelPlan {
  std::vector<std::string> classes;  // the model's outputs, in order
  std::vector<int> corpus_to_class;  // corpus label id -> class, or -1
  // Per role (train, val, test): the samples its loader reads (sorted; indices within
  // source_split(role)), and its units (sorted label_unit() ids).
  std::map<std::string, std::vector<std::uint64_t>> samples;
  std::map<std::string, std::vector<std::uint64_t>> units;
  std::map<std::string, std::vector<std::uint64_t>> per_class;  // role -> units per class
  LabelPlanOptions options;
  std::string node_splits;  // node-labelled: the splits every role reads ("train+val+test")
  // The loader split of a role: itself, or node_splits.
  std::string source_split(const std::string& role) const { return node_splits.empty() ? role : node_splits; }
  const char* unit_name() const { return options.nodes.empty() ? "samples" : "nodes"; }
  std::string to_json() const;
};

// The label of every sample of a split, by sample index (-1: unlabeled).
std::vector<std::int32_t> read_split_labels(const std::string& corpus, const std::string& split);

// Throws std::runtime_error naming the corpus when no class is left or the corpus has no labels.
LabelPlan make_label_plan(const std::string& corpus, const LabelPlanOptions& options);

// For evaluating a trained classifier on any corpus: its classes matched to the corpus's label
// names by name; units of other labels are left out. `splits` limits what is collected.
LabelPlan label_plan_for_classes(const std::string& corpus, const std::vector<std::string>& classes,
                                 const std::vector<std::string>& splits, const NodeLabels& nodes = {});

}  // namespace trafficfm::models
