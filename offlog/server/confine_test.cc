#include "offlog/server/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"

namespace offlog {
namespace {

// The allowed directory `path` is under, longest first, or "" for none.
std::string DirFor(absl::string_view path,
                   const std::vector<std::string>& dirs) {
  std::vector<AllowedMatch> m = AllowedDirsFor(path, dirs);
  return m.empty() ? "" : *m.front().dir;
}

TEST(AllowedDirsForTest, IsTextualAndStrictlyBelow) {
  std::vector<std::string> dirs = {"/var/log", "/var/log/app", "/srv"};
  EXPECT_EQ(DirFor("/var/log/a.log", dirs), "/var/log");
  EXPECT_EQ(DirFor("/var/log/app/a.log", dirs), "/var/log/app");
  EXPECT_EQ(DirFor("/var/log", dirs), "");
  EXPECT_EQ(DirFor("/var/log/", dirs), "");
  EXPECT_EQ(DirFor("/var/logx/a.log", dirs), "");
  EXPECT_EQ(DirFor("/etc/passwd", dirs), "");
  EXPECT_EQ(DirFor("/x", {"/"}), "/");
  EXPECT_EQ(DirFor("/", {"/"}), "");
}

TEST(AllowedDirsForTest, RestIsThePathAsSentAfterTheDirectory) {
  std::vector<std::string> dirs = {"/var/log", "/var/log/app"};
  // Doubled slashes and `.` may spell the directory.
  std::vector<AllowedMatch> m = AllowedDirsFor("//var/./log//a/../b/", dirs);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].rest, "a/../b/");
  // Longest first; each with its own rest.
  m = AllowedDirsFor("/var/log/app/../x.log", dirs);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(*m[0].dir, "/var/log/app");
  EXPECT_EQ(m[0].rest, "../x.log");
  EXPECT_EQ(m[1].rest, "app/../x.log");
  // `.` after the directory is the kernel's to judge.
  EXPECT_EQ(AllowedDirsFor("/var/log/.", dirs).at(0).rest, ".");
  // `..` before it is not a spelling of it.
  EXPECT_TRUE(AllowedDirsFor("/var/x/../log/a.log", dirs).empty());
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

// The path as sent: `..` and a trailing slash mean what the kernel makes
// of them below the directory, and `..` never climbs out of it.
TEST_P(OpenBeneathTest, TakesDotDotAndTrailingSlashesAsTheKernelDoes) {
  EXPECT_EQ(Open("sub/../up.log"), 0);
  EXPECT_TRUE(std::filesystem::exists(allowed_ + "/up.log"));
  EXPECT_EQ(Open("missing/../x.log"), ENOENT);
  EXPECT_EQ(Open("up.log/../y.log"), ENOTDIR);
  EXPECT_EQ(Open("new.log/"), EISDIR);
  EXPECT_EQ(Open("up.log/"), EISDIR);  // O_CREAT with a trailing slash.
  EXPECT_EQ(Open("sub/."), EISDIR);
  EXPECT_EQ(Open("./sub//./c.log"), 0);
  EXPECT_TRUE(std::filesystem::exists(allowed_ + "/sub/c.log"));
  EXPECT_EQ(Open("../outside/x.log"), EACCES);
  EXPECT_EQ(Open("sub/../../outside/x.log"), EACCES);
  EXPECT_EQ(Open(".."), EACCES);
  EXPECT_FALSE(std::filesystem::exists(outside_ + "/x.log"));
  EXPECT_FALSE(std::filesystem::exists(allowed_ + "/new.log"));
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
  // The path as sent: `..` below the directory is the kernel's to resolve.
  fd = OpenForAppend(root + "/sub/../b.log", {root});
  EXPECT_EQ(fd, -ENOENT);
  if (fd >= 0) close(fd);
  fd = OpenForAppend(root + "/./c.log/../c.log", {root});
  EXPECT_EQ(fd, -ENOENT);
  if (fd >= 0) close(fd);
  EXPECT_EQ(OpenForAppend(root + "/../x.log", {root}), -EACCES);
  // An inner allowed directory that refuses `..` leaves it to an outer one.
  mkdir((root + "/in").c_str(), 0755);
  fd = OpenForAppend(root + "/in/../d.log", {root, root + "/in"});
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  EXPECT_TRUE(std::filesystem::exists(root + "/d.log"));
  // open() refuses PATH_MAX bytes; so does the confined open.
  std::string long_path = root + std::string(4096 - root.size() - 6, '/');
  long_path += "/e.log";
  EXPECT_EQ(OpenForAppend(long_path, {root}), -ENAMETOOLONG);
  std::filesystem::remove_all(root);
}

// offlogd's own files are refused by identity, under any name, confined or
// not; everything else opens as before.
TEST(OpenForAppendTest, RefusesProtectedFilesByDeviceAndInode) {
  char tmpl[] = "/tmp/protectXXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string own = dir + "/own.log", other = dir + "/other.log";
  std::string sock = dir + "/s.sock", hard = dir + "/hard.log";
  UniqueFd(open(own.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_EQ(link(own.c_str(), hard.c_str()), 0);
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(
      bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
      0);
  std::vector<FileId> ids;
  for (const std::string& p : {own, sock}) {
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0);
    ids.push_back({st.st_dev, st.st_ino});
  }
  ASSERT_TRUE(SetProtectedFiles(ids).ok());
  for (const std::vector<std::string>& allowed :
       {std::vector<std::string>{}, {dir}}) {
    EXPECT_EQ(OpenForAppend(own, allowed), -EACCES);
    EXPECT_EQ(OpenForAppend(hard, allowed), -EACCES);
    EXPECT_EQ(OpenForAppend(sock, allowed), -EACCES);
    UniqueFd fd(OpenForAppend(other, allowed));
    EXPECT_TRUE(fd) << fd.get();
  }
  ASSERT_TRUE(SetProtectedFiles({}).ok());
  EXPECT_EQ(OpenForAppend(sock, {}), -ENXIO);  // What open() says.
  UniqueFd fd(OpenForAppend(own, {}));
  EXPECT_TRUE(fd);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace offlog
