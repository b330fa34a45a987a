#include "core/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace trafficfm::core {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AtomicFile, ReplacesContentsAndLeavesNoTemporary) {
  const std::string dir = ::testing::TempDir() + "/atomic_test";
  std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
  const std::string path = dir + "/manifest.json";
  write_file_atomically(path, "first");
  write_file_atomically(path, "second version");
  EXPECT_EQ(read(path), "second version");
  DIR* d = opendir(dir.c_str());
  int entries = 0;
  while (dirent* e = readdir(d)) entries += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, FailedWriteKeepsPreviousVersion) {
  const std::string dir = ::testing::TempDir() + "/atomic_test2";
  std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
  const std::string path = dir + "/labels.csv";
  write_file_atomically(path, "good");
  // Renaming onto a directory fails: the old file must survive untouched.
  EXPECT_THROW(write_file_atomically(dir, "bad"), std::runtime_error);
  EXPECT_EQ(read(path), "good");
  EXPECT_THROW(write_file_atomically("/nonexistent-dir/x", "bad"), std::runtime_error);
}

}  // namespace
}  // namespace trafficfm::core
