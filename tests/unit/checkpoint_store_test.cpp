// The checkpoint protocol: parts, meta.json with hashes, COMMIT, latest; resume skips an
// uncommitted or corrupted checkpoint with a warning naming it; retention.
#include "core/checkpoint_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/json_value.h"
#include "tests/support/test_paths.h"

namespace trafficfm::core {
namespace {

namespace fs = std::filesystem;

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { run_ = testing::make_temp_dir("ckpt"); }
  void TearDown() override { testing::remove_tree(run_); }
  void save(const CheckpointStore& store, std::uint64_t step, bool commit = true) {
    for (int rank = 0; rank < 2; ++rank) {
      store.write_part(step, "rank-" + std::to_string(rank) + ".state",
                       "state of rank " + std::to_string(rank) + " at " + std::to_string(step));
    }
    if (commit) store.commit(step, {"rank-0.state", "rank-1.state"}, "{\"model\": \"test\"}");
  }
  std::string run_;
};

TEST_F(CheckpointStoreTest, CommitWritesHashesMarkerAndLatest) {
  CheckpointStore store(run_);
  for (std::uint64_t step : {10, 20, 30}) save(store, step);
  EXPECT_EQ(testing::read_text_file(store.root() + "/latest"), "step-00000030\n");
  EXPECT_TRUE(fs::exists(store.step_dir(30) + "/COMMIT"));
  const auto meta = JsonValue::parse(testing::read_text_file(store.step_dir(30) + "/meta.json"));
  EXPECT_EQ(meta["step"].as_int(), 30);
  EXPECT_EQ(meta["model"].as_string(), "test");
  EXPECT_EQ(meta["files"]["rank-1.state"]["sha256"].as_string().size(), 64u);
  CheckpointStore::Found found;
  std::vector<std::string> warnings;
  ASSERT_TRUE(store.newest_valid(found, &warnings));
  EXPECT_EQ(found.step, 30u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(store.read_part(found.dir, "rank-1.state"), "state of rank 1 at 30");
  EXPECT_THROW(store.write_part(40, "COMMIT", "x"), std::invalid_argument);
  EXPECT_THROW(store.commit(40, {"rank-0.state"}, "{}"), std::runtime_error);  // part missing
}

TEST_F(CheckpointStoreTest, UncommittedAndCorruptedCheckpointsAreSkippedByName) {
  CheckpointStore store(run_);
  save(store, 10);
  save(store, 20);
  save(store, 30, /*commit=*/false);  // a rank killed while the checkpoint was being written
  {                                   // one flipped byte in a part of step 20
    std::fstream f(store.step_dir(20) + "/rank-1.state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  CheckpointStore::Found found;
  std::vector<std::string> warnings;
  ASSERT_TRUE(store.newest_valid(found, &warnings));
  EXPECT_EQ(found.step, 10u);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("step-00000030"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("no COMMIT"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("step-00000020"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[1].find("rank-1.state"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[1].find("SHA-256"), std::string::npos) << warnings[1];
  EXPECT_EQ(store.committed_steps(), (std::vector<std::uint64_t>{10, 20}));
}

TEST_F(CheckpointStoreTest, NothingToResumeFrom) {
  CheckpointStore store(run_);
  CheckpointStore::Found found;
  EXPECT_FALSE(store.newest_valid(found, nullptr));
}

TEST_F(CheckpointStoreTest, RetentionKeepsLastKAndMilestones) {
  CheckpointStore store(run_);
  for (std::uint64_t step = 100; step <= 1000; step += 100) save(store, step);
  save(store, 1100, /*commit=*/false);  // in progress: must survive
  const auto removed = store.apply_retention(/*keep_last=*/2, /*milestone_every=*/500);
  EXPECT_EQ(removed, (std::vector<std::uint64_t>{100, 200, 300, 400, 600, 700, 800}));
  EXPECT_EQ(store.committed_steps(), (std::vector<std::uint64_t>{500, 900, 1000}));
  EXPECT_TRUE(fs::exists(store.step_dir(1100)));
}

}  // namespace
}  // namespace trafficfm::core
