// The fine-tuning label plan chooses its classes without looking at the test split: a label
// that only test holds is no class (choosing it would use test to decide what is learned).
#include "models/finetune/label_plan.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "datasets/corpus/corpus_writer.h"
#include "datasets/corpus/manifest.h"

namespace trafficfm::models {
namespace {

using namespace datasets;

TEST(LabelPlan, ClassesComeFromTrainAndValCountsOnly) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("label_plan_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  CorpusWriter writer(dir, "test", {{"x", DType::kUint8, {4}, "bytes"}}, 1 << 20, {}, 0, 1, /*dedup=*/false);
  std::uint8_t value = 0;
  auto add = [&](int split, int label, int count) {
    for (int i = 0; i < count; ++i, ++value) {
      const std::uint8_t x[4] = {value, 1, 2, 3};
      writer.row_buffer(split).put(0, x, 4);
      ASSERT_TRUE(writer.commit_row(split, label, value));
    }
  };
  add(0, 0, 6);  // train: a, b
  add(0, 1, 6);
  add(1, 0, 2);  // val: a, b, and c (no training sample: nothing to learn it from)
  add(1, 1, 2);
  add(1, 2, 3);
  add(2, 0, 2);  // test: a, b and d, which only test holds
  add(2, 1, 2);
  add(2, 3, 9);
  writer.finish();
  Manifest m;
  m.encoder = "test";
  m.columns = writer.schema();
  m.shards = writer.shards();
  m.label_names = {"a", "b", "c", "d"};
  write_manifest(dir, m);

  const LabelPlan plan = make_label_plan(dir, {});
  EXPECT_EQ(plan.classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(plan.samples.at("test").size(), 4u);  // test keeps the samples of the kept classes
  EXPECT_EQ(plan.samples.at("val").size(), 4u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace trafficfm::models
