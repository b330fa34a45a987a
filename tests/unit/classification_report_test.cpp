// Report numbers against values worked out by hand (and by scikit-learn's conventions).
#include "core/classification_report.h"

#include <gtest/gtest.h>

#include "core/json_value.h"

namespace trafficfm::core {
namespace {

TEST(ClassificationReport, MatchesHandComputedScores) {
  // true a: 3 right, 1 as b; true b: 2 right; true c: 1 as a, 0 right.
  const auto r = classification_report({"a", "b", "c"}, {{3, 1, 0}, {0, 2, 0}, {1, 0, 0}});
  EXPECT_EQ(r.samples, 7u);
  EXPECT_NEAR(r.accuracy, 5.0 / 7, 1e-12);
  EXPECT_NEAR(r.per_class[0].precision, 0.75, 1e-12);
  EXPECT_NEAR(r.per_class[0].recall, 0.75, 1e-12);
  EXPECT_NEAR(r.per_class[1].precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.per_class[1].f1, 0.8, 1e-12);
  EXPECT_EQ(r.per_class[2].f1, 0.0);  // never predicted: precision 0
  EXPECT_NEAR(r.macro_f1, (0.75 + 0.8 + 0.0) / 3, 1e-12);
  EXPECT_NEAR(r.weighted_f1, (0.75 * 4 + 0.8 * 2 + 0.0) / 7, 1e-12);
  const auto j = JsonValue::parse(r.to_json());
  EXPECT_NEAR(j["macro_f1"].as_number(), r.macro_f1, 1e-9);
  EXPECT_EQ(j["confusion"].as_array().size(), 3u);
  EXPECT_EQ(j["per_class"]["b"]["support"].as_int(), 2);
  EXPECT_NE(r.table().find("macro F1"), std::string::npos);
}

TEST(ClassificationReport, AbsentClassesLeaveTheMacroAverage) {
  // c neither occurs nor is predicted: averaged over a and b only.
  const auto r = classification_report({"a", "b", "c"}, {{2, 0, 0}, {0, 2, 0}, {0, 0, 0}});
  EXPECT_DOUBLE_EQ(r.macro_f1, 1.0);
  EXPECT_THROW(classification_report({"a"}, {{1, 2}}), std::invalid_argument);
}

}  // namespace
}  // namespace trafficfm::core
