// core::remove_tree: a whole tree goes, a link inside it is removed but not followed, a missing
// path is no error.
#include "core/file_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "tests/support/test_paths.h"

namespace trafficfm::core {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(FileTree, RemovesNestedTreeButNotWhatItsLinksPointTo) {
  const std::string dir = testing::make_temp_dir("file_tree");
  const std::string tree = dir + "/step-00000012", outside = dir + "/outside";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/optimizer").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/optimizer/empty").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  std::ofstream(tree + "/model.pt") << "weights";
  std::ofstream(tree + "/optimizer/rank-0.pt") << "state";
  std::ofstream(outside + "/keep.txt") << "not part of the tree";
  ASSERT_EQ(::symlink(outside.c_str(), (tree + "/link-to-outside").c_str()), 0);

  remove_tree(tree);
  EXPECT_FALSE(exists(tree));
  EXPECT_TRUE(exists(outside + "/keep.txt"));           // the link was removed, not followed
  EXPECT_NO_THROW(remove_tree(tree));                   // already gone: nothing to do
  EXPECT_NO_THROW(remove_tree(outside + "/keep.txt"));  // a plain file is a tree of one
  EXPECT_FALSE(exists(outside + "/keep.txt"));
  testing::remove_tree(dir);
}

TEST(FileTree, AnEntryThatCannotBeRemovedIsNamed) {
  // A path through a regular file cannot be walked: ENOTDIR, with the path in the message.
  const std::string dir = testing::make_temp_dir("file_tree");
  std::ofstream(dir + "/file") << "x";
  try {
    remove_tree(dir + "/file/below");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/file/below"), std::string::npos) << e.what();
  }
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::core
