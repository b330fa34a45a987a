#include "core/classification_report.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "core/json.h"

namespace trafficfm::core {

ClassificationReport classification_report(const std::vector<std::string>& classes,
                                           const std::vector<std::vector<std::uint64_t>>& confusion) {
  const std::size_t k = classes.size();
  if (confusion.size() != k) throw std::invalid_argument("confusion matrix needs one row per class");
  for (const auto& row : confusion) {
    if (row.size() != k) throw std::invalid_argument("confusion matrix must be square");
  }
  ClassificationReport r;
  r.classes = classes;
  r.confusion = confusion;
  r.per_class.resize(k);
  std::uint64_t correct = 0;
  std::vector<std::uint64_t> predicted(k, 0);
  for (std::size_t t = 0; t < k; ++t) {
    for (std::size_t p = 0; p < k; ++p) {
      r.samples += confusion[t][p];
      predicted[p] += confusion[t][p];
      r.per_class[t].support += confusion[t][p];
    }
    correct += confusion[t][t];
  }
  std::size_t present = 0;
  for (std::size_t c = 0; c < k; ++c) {
    auto& m = r.per_class[c];
    const double tp = static_cast<double>(confusion[c][c]);
    m.precision = predicted[c] ? tp / static_cast<double>(predicted[c]) : 0.0;
    m.recall = m.support ? tp / static_cast<double>(m.support) : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    if (m.support > 0 || predicted[c] > 0) {
      r.macro_f1 += m.f1;
      ++present;
    }
    if (r.samples) r.weighted_f1 += m.f1 * static_cast<double>(m.support) / static_cast<double>(r.samples);
  }
  if (present) r.macro_f1 /= static_cast<double>(present);
  r.accuracy = r.samples ? static_cast<double>(correct) / static_cast<double>(r.samples) : 0.0;
  return r;
}

std::string ClassificationReport::to_json() const {
  JsonObject per;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const auto& m = per_class[c];
    per.set(classes[c], JsonObject()
                            .set("precision", m.precision)
                            .set("recall", m.recall)
                            .set("f1", m.f1)
                            .set("support", m.support));
  }
  std::string rows = "[";
  for (std::size_t t = 0; t < confusion.size(); ++t) {
    rows += t ? ", [" : "[";
    for (std::size_t p = 0; p < confusion[t].size(); ++p)
      rows += (p ? ", " : "") + std::to_string(confusion[t][p]);
    rows += "]";
  }
  rows += "]";
  JsonObject out;
  out.set("accuracy", accuracy)
      .set("macro_f1", macro_f1)
      .set("weighted_f1", weighted_f1)
      .set("samples", samples);
  out.set("classes", classes).set("per_class", per).set_raw("confusion", rows);
  return out.str();
}

std::string ClassificationReport::table() const {
  std::size_t width = 12;
  for (const auto& c : classes) width = std::max(width, c.size() + 2);
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %9s %9s %9s %9s\n", static_cast<int>(width), "class", "precision",
                "recall", "f1", "support");
  out += line;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const auto& m = per_class[c];
    std::snprintf(line, sizeof line, "%-*s %9.4f %9.4f %9.4f %9llu\n", static_cast<int>(width),
                  classes[c].c_str(), m.precision, m.recall, m.f1,
                  static_cast<unsigned long long>(m.support));
    out += line;
  }
  std::snprintf(line, sizeof line, "\n%-*s %9.4f\n%-*s %9.4f\n%-*s %9.4f   (%llu samples)\n",
                static_cast<int>(width), "accuracy", accuracy, static_cast<int>(width), "macro F1", macro_f1,
                static_cast<int>(width), "weighted F1", weighted_f1,
                static_cast<unsigned long long>(samples));
  out += line;
  out += "\nconfusion (rows: true class, columns: predicted, in the order above)\n";
  for (std::size_t t = 0; t < confusion.size(); ++t) {
    std::snprintf(line, sizeof line, "%-*s", static_cast<int>(width), classes[t].c_str());
    out += line;
    for (auto n : confusion[t]) {
      std::snprintf(line, sizeof line, " %7llu", static_cast<unsigned long long>(n));
      out += line;
    }
    out += "\n";
  }
  return out;
}

}  // namespace trafficfm::core
