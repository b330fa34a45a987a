// Which labels a fine-tuning run learns and from which samples. The classes are the corpus
// labels with at least `min_class_samples` labeled samples in train and val together (test is
// never looked at to choose them) and at least one in train, minus those named in `exclude`
// (an "Unspecified" category, say). The labeled training share is a seeded,
// stratified choice per class: `shots` samples (all when fewer) or, without shots, a
// `label_fraction` of them (at least one). val and test keep every sample of the kept classes.
// The plan is written to the run directory, so a run can be repeated and audited.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trafficfm::models {

struct LabelPlanOptions {
  std::size_t min_class_samples = 1;
  std::vector<std::string> exclude;
  double label_fraction = 1.0;
  std::size_t shots = 0;  // per class; 0: use label_fraction
  std::uint64_t seed = 0;
};

struct LabelPlan {
  std::vector<std::string> classes;                             // the model's outputs, in order
  std::vector<int> corpus_to_class;                             // corpus label id -> class, or -1
  std::map<std::string, std::vector<std::uint64_t>> samples;    // split -> sample indices (sorted)
  std::map<std::string, std::vector<std::uint64_t>> per_class;  // split -> samples per class
  LabelPlanOptions options;
  std::string to_json() const;
};

// The label of every sample of a split, by sample index (-1: unlabeled).
std::vector<std::int32_t> read_split_labels(const std::string& corpus, const std::string& split);

// Throws std::runtime_error naming the corpus when no class is left or the corpus has no labels.
LabelPlan make_label_plan(const std::string& corpus, const LabelPlanOptions& options);

// For evaluating a trained classifier on any corpus: its classes matched to the corpus's label
// names by name; samples of other labels are left out. `splits` limits what is collected.
LabelPlan label_plan_for_classes(const std::string& corpus, const std::vector<std::string>& classes,
                                 const std::vector<std::string>& splits);

}  // namespace trafficfm::models
