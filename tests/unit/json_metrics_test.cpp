#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/json.h"
#include "core/metrics_writer.h"

namespace trafficfm::core {
namespace {

TEST(Json, EscapesControlCharactersAndQuotes) {
  EXPECT_EQ(json_escape("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(Json, NumbersRoundTripAndNonFiniteIsNull) {
  for (double v : {0.1, 1.0 / 3.0, 3e-4, 123456789.0, -2.5e-300}) {
    EXPECT_EQ(std::strtod(json_number(v).c_str(), nullptr), v) << json_number(v);
  }
  EXPECT_EQ(json_number(NAN), "null");
  EXPECT_EQ(json_number(INFINITY), "null");
}

TEST(Json, ObjectKeepsInsertionOrderAndReplacesKeys) {
  JsonObject o;
  o.set("step", 3).set("loss", 0.5).set("name", "mmae").set("step", 4).set("ok", true);
  EXPECT_EQ(o.str(), "{\"step\": 4, \"loss\": 0.5, \"name\": \"mmae\", \"ok\": true}");
}

TEST(MetricsWriter, AppendsOneLinePerRecord) {
  const std::string path = ::testing::TempDir() + "/metrics_test.jsonl";
  std::remove(path.c_str());
  {
    MetricsWriter writer(path);
    writer.write(JsonObject().set("step", 1).set("loss", 2.0));
    writer.write(JsonObject().set("step", 2).set("loss", 1.5));
  }
  {
    MetricsWriter resumed(path);  // a resumed run appends
    resumed.write(JsonObject().set("step", 3).set("loss", 1.25));
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    EXPECT_NE(line.find("\"step\": " + std::to_string(lines)), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 3);
}

TEST(MetricsWriter, UnwritablePathNamesTheFile) {
  try {
    MetricsWriter writer("/nonexistent-dir/metrics.jsonl");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/metrics.jsonl"), std::string::npos);
  }
}

}  // namespace
}  // namespace trafficfm::core
