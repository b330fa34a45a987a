// Classification quality from a confusion matrix: accuracy, macro- and weighted-F1, per-class
// precision/recall/F1 and support, as JSON (report.json) and as a table for people. The
// conventions are scikit-learn's: a class never predicted has precision 0; the macro average
// runs over the classes present in the truth or the predictions.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trafficfm::core {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  std::uint64_t support = 0;  // true samples of the class
};

struct ClassificationReport {
  std::vector<std::string> classes;
  std::vector<std::vector<std::uint64_t>> confusion;  // [true class][predicted class]
  std::vector<ClassMetrics> per_class;
  std::uint64_t samples = 0;
  double accuracy = 0, macro_f1 = 0, weighted_f1 = 0;

  std::string to_json()
      const;  // {"accuracy", "macro_f1", "weighted_f1", "samples", "classes", "per_class", "confusion"}
  std::string table() const;  // per-class rows, the averages, then the confusion matrix
};

// `confusion` is square with one row per class. Throws std::invalid_argument otherwise.
ClassificationReport classification_report(const std::vector<std::string>& classes,
                                           const std::vector<std::vector<std::uint64_t>>& confusion);

}  // namespace trafficfm::core
