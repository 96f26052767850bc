#include "offlog/client/abspath.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace offlog {
namespace {

// Expected values are what Python 3's os.path.abspath returns.
TEST(AbsolutePathFromTest, MatchesPythonAbspath) {
  EXPECT_EQ(AbsolutePathFrom("/home/u", "x.log"), "/home/u/x.log");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "./a/../b//c/."), "/home/u/b/c");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "../../../x"), "/x");
  EXPECT_EQ(AbsolutePathFrom("/", "x"), "/x");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "/var//log/./x/"), "/var/log/x");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "//var/x"), "//var/x");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "///var/x"), "/var/x");
  EXPECT_EQ(AbsolutePathFrom("/home/u", "/.."), "/");
  EXPECT_EQ(AbsolutePathFrom("/home/u", ""), "/home/u");
}

TEST(AbsolutePathTest, UsesCurrentDirectory) {
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  absl::StatusOr<std::string> path = AbsolutePath("sub/f.log");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, AbsolutePathFrom(cwd, "sub/f.log"));
  EXPECT_EQ(*AbsolutePath("/a/./b"), "/a/b");
}

}  // namespace
}  // namespace offlog
