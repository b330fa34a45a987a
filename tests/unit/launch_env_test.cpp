#include "distributed/launch_env.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace trafficfm::distributed {
namespace {

class LaunchEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) unsetenv(name);
  }
  void TearDown() override { SetUp(); }
  static constexpr const char* kVariables[] = {"OMPI_COMM_WORLD_RANK",
                                               "OMPI_COMM_WORLD_SIZE",
                                               "OMPI_COMM_WORLD_LOCAL_RANK",
                                               "OMPI_COMM_WORLD_LOCAL_SIZE",
                                               "SLURM_PROCID",
                                               "SLURM_NTASKS",
                                               "SLURM_LOCALID",
                                               "SLURM_STEP_ID",
                                               "SLURM_NODEID",
                                               "SLURM_STEP_TASKS_PER_NODE",
                                               "PMIX_RANK",
                                               "RANK",
                                               "WORLD_SIZE",
                                               "LOCAL_RANK",
                                               "LOCAL_WORLD_SIZE"};
};

TEST_F(LaunchEnvTest, AloneIsRankZeroOfOne) {
  const auto env = detect_launch_env();
  EXPECT_EQ(env.launcher, "single");
  EXPECT_EQ(env.world_rank, 0);
  EXPECT_EQ(env.world_size, 1);
}

TEST_F(LaunchEnvTest, ReadsOpenMpi) {
  setenv("OMPI_COMM_WORLD_RANK", "5", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4", 1);
  const auto env = detect_launch_env();
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.world_rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_size, 4);
}

TEST_F(LaunchEnvTest, ReadsSlurmStepWithCompressedTasksPerNode) {
  setenv("SLURM_PROCID", "6", 1);
  setenv("SLURM_NTASKS", "7", 1);
  setenv("SLURM_LOCALID", "0", 1);
  setenv("SLURM_STEP_ID", "0", 1);
  setenv("SLURM_NODEID", "3", 1);
  setenv("SLURM_STEP_TASKS_PER_NODE", "2(x3),1", 1);
  const auto env = detect_launch_env();
  EXPECT_EQ(env.launcher, "slurm");
  EXPECT_EQ(env.world_rank, 6);
  EXPECT_EQ(env.local_size, 1);
  setenv("SLURM_NODEID", "1", 1);
  EXPECT_EQ(detect_launch_env().local_size, 2);
}

TEST_F(LaunchEnvTest, BatchScriptAloneIsNotAStep) {
  setenv("SLURM_PROCID", "0", 1);
  setenv("SLURM_NTASKS", "4", 1);  // the batch shell sees these but is not one of the tasks
  EXPECT_EQ(detect_launch_env().launcher, "single");
}

TEST_F(LaunchEnvTest, InconsistentValuesNameTheVariable) {
  setenv("RANK", "x1", 1);
  setenv("WORLD_SIZE", "2", 1);
  try {
    detect_launch_env();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK"), std::string::npos);
  }
  setenv("RANK", "2", 1);
  EXPECT_THROW(detect_launch_env(), std::runtime_error);  // rank >= size
}

}  // namespace
}  // namespace trafficfm::distributed
