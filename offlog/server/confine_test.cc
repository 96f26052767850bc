#include "offlog/server/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"

namespace offlog {
namespace {

TEST(AllowedDirForTest, IsLexicalAndStrictlyBelow) {
  std::vector<std::string> dirs = {"/var/log", "/var/log/app", "/srv"};
  EXPECT_EQ(*AllowedDirFor("/var/log/a.log", dirs), "/var/log");
  EXPECT_EQ(*AllowedDirFor("/var/log/app/a.log", dirs), "/var/log/app");
  EXPECT_EQ(AllowedDirFor("/var/log", dirs), nullptr);
  EXPECT_EQ(AllowedDirFor("/var/logx/a.log", dirs), nullptr);
  EXPECT_EQ(AllowedDirFor("/etc/passwd", dirs), nullptr);
  EXPECT_EQ(*AllowedDirFor("/x", {"/"}), "/");
  EXPECT_EQ(AllowedDirFor("/", {"/"}), nullptr);
}

TEST(NormalizeAllowedDirsTest, NormalisesAndRefusesRelative) {
  auto dirs = NormalizeAllowedDirs({"/var//log/", "/a/b/../c"});
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(*dirs, (std::vector<std::string>{"/var/log", "/a/c"}));
  EXPECT_FALSE(NormalizeAllowedDirs({"var/log"}).ok());
}

class OpenBeneathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/confineXXXXXX";
    root_ = mkdtemp(tmpl);
    allowed_ = root_ + "/allowed";
    outside_ = root_ + "/outside";
    mkdir(allowed_.c_str(), 0755);
    mkdir(outside_.c_str(), 0755);
    mkdir((allowed_ + "/sub").c_str(), 0755);
    symlink(outside_.c_str(), (allowed_ + "/escape").c_str());
    symlink("sub", (allowed_ + "/inner").c_str());
    symlink((outside_ + "/target").c_str(), (allowed_ + "/link.log").c_str());
    dir_.Reset(open(allowed_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  int Open(const std::string& rel) {
    int fd = OpenBeneath(dir_.get(), rel,
                         O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0644,
                         /*force_walk=*/GetParam());
    if (fd >= 0) close(fd);
    return fd >= 0 ? 0 : -fd;
  }

  std::string root_, allowed_, outside_;
  UniqueFd dir_;
};

TEST_P(OpenBeneathTest, OpensPlainPaths) {
  EXPECT_EQ(Open("a.log"), 0);
  EXPECT_EQ(Open("sub/b.log"), 0);
  EXPECT_TRUE(std::filesystem::exists(allowed_ + "/sub/b.log"));
}

TEST_P(OpenBeneathTest, RefusesSymlinksInDirectoriesAndLastComponent) {
  EXPECT_EQ(Open("escape/x.log"), EACCES);
  EXPECT_EQ(Open("inner/x.log"), EACCES);
  EXPECT_EQ(Open("link.log"), EACCES);
  EXPECT_FALSE(std::filesystem::exists(outside_ + "/x.log"));
  EXPECT_FALSE(std::filesystem::exists(outside_ + "/target"));
}

TEST_P(OpenBeneathTest, KeepsOtherErrors) {
  EXPECT_EQ(Open("missing/x.log"), ENOENT);
  EXPECT_EQ(Open("sub"), EISDIR);
}

INSTANTIATE_TEST_SUITE_P(Openat2AndWalk, OpenBeneathTest,
                         ::testing::Values(false, true));

TEST(OpenForAppendTest, ConfinesToTheAllowedDir) {
  char tmpl[] = "/tmp/confineXXXXXX";
  std::string root = mkdtemp(tmpl);
  std::string inside = root + "/a.log";
  int fd = OpenForAppend(inside, {root});
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  EXPECT_EQ(OpenForAppend("/etc/offlog-never.log", {root}), -EACCES);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace offlog
