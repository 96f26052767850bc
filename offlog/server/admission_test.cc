#include "offlog/server/admission.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "offlog/common/pyerror.h"
#include "offlog/server/confine.h"
#include "offlog/server/credentials.h"
#include "offlog/server/options.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace {

// Ids no name on a test machine stands for.
constexpr uid_t kUid = 23451;
constexpr uid_t kOtherUid = 23452;
constexpr gid_t kGid = 23461;
constexpr gid_t kOtherGid = 23462;

PeerCredentials Cred(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  PeerCredentials c;
  c.pid = 4242;
  c.uid = uid;
  c.gid = gid;
  c.groups = std::move(groups);
  return c;
}

Admission Build(const ServerOptions& options) {
  absl::StatusOr<Admission> a = Admission::FromOptions(options);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *std::move(a) : Admission();
}

bool Admits(const Admission& a, const PeerCredentials& cred,
            absl::string_view path = "/tmp/a.log") {
  std::string refusal = a.Check(1, cred, path);
  // A refusal is always the PermissionError a refused open() would give.
  if (!refusal.empty()) {
    EXPECT_EQ(refusal, FormatOsError(EACCES, path));
  }
  return refusal.empty();
}

TEST(AdmissionTest, NoFlagsAdmitsEveryone) {
  Admission a = Build(ServerOptions());
  EXPECT_TRUE(a.allowed_dirs().empty());
  EXPECT_TRUE(Admits(a, Cred(0, 0)));
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid)));
  EXPECT_TRUE(Admits(a, Cred(65534, 65534, {kGid})));
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid), "/anywhere/at/all.log"));
}

TEST(AdmissionTest, UnknownCredentialsAreRefused) {
  Admission a = Build(ServerOptions());
  absl::StatusOr<PeerCredentials> unknown =
      absl::InternalError("SO_PEERCRED failed");
  EXPECT_EQ(a.Check(7, unknown, "/tmp/a.log"),
            FormatOsError(EACCES, "/tmp/a.log"));
}

TEST(AdmissionTest, AllowUidByName) {
  const passwd* pw = getpwnam("root");
  ASSERT_NE(pw, nullptr);
  ASSERT_EQ(pw->pw_uid, 0u);
  ServerOptions o;
  o.allow_uid = {"root"};
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(0, kGid)));
  EXPECT_FALSE(Admits(a, Cred(kUid, 0)));  // A root group is not root.
  EXPECT_FALSE(Admits(a, Cred(kUid, kGid, {0})));
}

TEST(AdmissionTest, AllowUidByNumberAndInLists) {
  ServerOptions o;
  o.allow_uid = {std::to_string(kUid)};
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid)));
  EXPECT_FALSE(Admits(a, Cred(kOtherUid, kGid)));
  EXPECT_FALSE(Admits(a, Cred(0, 0)));

  // Comma-separated, and one entry per flag given.
  o.allow_uid = {std::to_string(kUid) + ",root", std::to_string(kOtherUid)};
  a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid)));
  EXPECT_TRUE(Admits(a, Cred(0, kGid)));
  EXPECT_TRUE(Admits(a, Cred(kOtherUid, kGid)));
  EXPECT_FALSE(Admits(a, Cred(kOtherUid + 1, kGid)));
}

TEST(AdmissionTest, AllowGidByPrimaryGroup) {
  const group* gr = getgrnam("root");
  ASSERT_NE(gr, nullptr);
  ASSERT_EQ(gr->gr_gid, 0u);
  ServerOptions o;
  o.allow_gid = {"root"};  // By name.
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, 0)));
  EXPECT_FALSE(Admits(a, Cred(kUid, kGid)));
  EXPECT_FALSE(Admits(a, Cred(0, kGid)));  // Root's uid is not root's group.

  o.allow_gid = {std::to_string(kGid)};  // By number.
  a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid)));
  EXPECT_FALSE(Admits(a, Cred(kUid, kOtherGid)));
}

TEST(AdmissionTest, AllowGidBySupplementaryGroup) {
  ServerOptions o;
  o.allow_gid = {std::to_string(kGid)};
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kOtherGid, {kGid})));
  EXPECT_TRUE(Admits(a, Cred(kUid, kOtherGid, {1, kGid, kGid + 100})));
  EXPECT_FALSE(Admits(a, Cred(kUid, kOtherGid, {1, kOtherGid + 100})));
  EXPECT_FALSE(Admits(a, Cred(kUid, kOtherGid)));

  o.allow_gid = {"root"};
  a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid, {0})));
}

TEST(AdmissionTest, UidAndGidTogetherEitherSuffices) {
  ServerOptions o;
  o.allow_uid = {std::to_string(kUid)};
  o.allow_gid = {std::to_string(kGid)};
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kOtherGid)));               // uid only
  EXPECT_TRUE(Admits(a, Cred(kOtherUid, kGid)));               // primary gid
  EXPECT_TRUE(Admits(a, Cred(kOtherUid, kOtherGid, {kGid})));  // supplementary
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid)));                    // both
  EXPECT_FALSE(Admits(a, Cred(kOtherUid, kOtherGid, {kOtherGid + 1})));
  EXPECT_FALSE(Admits(a, Cred(0, 0)));
}

TEST(AdmissionTest, UnknownNamesFailClosed) {
  ServerOptions o;
  o.allow_uid = {"no-such-user-offlog"};
  absl::StatusOr<Admission> a = Admission::FromOptions(o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("no-such-user-offlog"),
            absl::string_view::npos)
      << a.status();

  // One unknown name among known ones fails the whole option.
  o.allow_uid = {"root,no-such-user-offlog"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
  o.allow_uid = {"root", "no-such-user-offlog"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
  o.allow_uid = {"root,"};  // An empty name is no user either.
  EXPECT_FALSE(Admission::FromOptions(o).ok());

  o.allow_uid.clear();
  o.allow_gid = {"no-such-group-offlog"};
  a = Admission::FromOptions(o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("no-such-group-offlog"),
            absl::string_view::npos)
      << a.status();
  o.allow_gid = {"root,no-such-group-offlog"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());

  // A bad uid name fails even with good groups (and the reverse).
  o.allow_uid = {"no-such-user-offlog"};
  o.allow_gid = {"root"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
  o.allow_uid = {"root"};
  o.allow_gid = {"no-such-group-offlog"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
}

TEST(AdmissionTest, RelativeAllowDirIsAnError) {
  ServerOptions o;
  o.allow_dir = {"var/log"};
  absl::StatusOr<Admission> a = Admission::FromOptions(o);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("var/log"), absl::string_view::npos);
  o.allow_dir = {"/var/log", "./logs"};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
  o.allow_dir = {""};
  EXPECT_FALSE(Admission::FromOptions(o).ok());
}

TEST(AdmissionTest, AllowDirAdmitsPathsBeneathOnly) {
  ServerOptions o;
  o.allow_dir = {"//srv/./logs/"};
  Admission a = Build(o);
  EXPECT_EQ(a.allowed_dirs(), std::vector<std::string>{"/srv/logs"});
  const PeerCredentials c = Cred(kUid, kGid);

  EXPECT_TRUE(Admits(a, c, "/srv/logs/a.log"));
  EXPECT_TRUE(Admits(a, c, "/srv/logs/sub/dir/a.log"));
  EXPECT_TRUE(Admits(a, c, "//srv/./logs//a.log"));  // Spells the directory.

  EXPECT_FALSE(Admits(a, c, "/etc/passwd"));
  EXPECT_FALSE(Admits(a, c, "/srv/logsx/a.log"));  // Whole components.
  EXPECT_FALSE(Admits(a, c, "/srv/a.log"));
  EXPECT_FALSE(Admits(a, c, "/srv/logs"));   // The directory itself...
  EXPECT_FALSE(Admits(a, c, "/srv/logs/"));  // ...in any spelling.
  EXPECT_FALSE(Admits(a, c, "/"));
  // `..` before the directory does not spell it, even where it would
  // resolve to it.
  EXPECT_FALSE(Admits(a, c, "/srv/x/../logs/a.log"));
  EXPECT_FALSE(Admits(a, c, "/tmp/../srv/logs/a.log"));

  // `..` after it is the writer's open to judge (confine.h): the acceptor
  // touches no file system, so it admits what spells the directory out.
  EXPECT_TRUE(Admits(a, c, "/srv/logs/../../etc/passwd"));
  EXPECT_TRUE(Admits(a, c, "/srv/logs/sub/../a.log"));
  EXPECT_TRUE(Admits(a, c, "/srv/logs/."));  // So is `.` after it.
}

TEST(AdmissionTest, AnyOfSeveralAllowDirs) {
  ServerOptions o;
  o.allow_dir = {"/srv/logs", "/var/log/app"};
  Admission a = Build(o);
  const PeerCredentials c = Cred(kUid, kGid);
  EXPECT_TRUE(Admits(a, c, "/srv/logs/a.log"));
  EXPECT_TRUE(Admits(a, c, "/var/log/app/a.log"));
  EXPECT_FALSE(Admits(a, c, "/var/log/a.log"));
}

// What Admission lets through with `..` the writer's confined open, with
// the same directories, refuses: the escape is stopped, where the file
// system is.
TEST(AdmissionTest, DotDotEscapeAdmittedHereIsRefusedByTheConfinedOpen) {
  testing::TempDir tmp;
  const std::string dir = tmp.File("allowed");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ServerOptions o;
  o.allow_dir = {dir};
  Admission a = Build(o);
  const std::string escape = dir + "/../escaped.log";
  ASSERT_TRUE(Admits(a, Cred(kUid, kGid), escape));
  EXPECT_EQ(OpenForAppend(escape, a.allowed_dirs()), -EACCES);
  struct stat st;
  EXPECT_NE(stat(tmp.File("escaped.log").c_str(), &st), 0);

  const std::string inside = dir + "/sub/../in.log";
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  ASSERT_TRUE(Admits(a, Cred(kUid, kGid), inside));
  int fd = OpenForAppend(inside, a.allowed_dirs());
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  EXPECT_EQ(stat((dir + "/in.log").c_str(), &st), 0);
}

TEST(AdmissionTest, PolicyAndDirectoriesBothApply) {
  ServerOptions o;
  o.allow_uid = {std::to_string(kUid)};
  o.allow_dir = {"/srv/logs"};
  Admission a = Build(o);
  EXPECT_TRUE(Admits(a, Cred(kUid, kGid), "/srv/logs/a.log"));
  EXPECT_FALSE(Admits(a, Cred(kUid, kGid), "/etc/a.log"));
  EXPECT_FALSE(Admits(a, Cred(kOtherUid, kGid), "/srv/logs/a.log"));
}

TEST(AdmissionTest, OpensAsClientOnlyAsRootAndForOthers) {
  ServerOptions o;
  o.open_as_server_user = true;
  Admission as_server = Build(o);
  EXPECT_FALSE(as_server.OpensAsClient(Cred(kUid, kGid)));
  EXPECT_FALSE(as_server.OpensAsClient(OwnCredentials()));

  Admission a = Build(ServerOptions());
  // offlogd's own credentials open files the same either way.
  EXPECT_FALSE(a.OpensAsClient(OwnCredentials()));
  PeerCredentials own_with_other_pid = OwnCredentials();
  own_with_other_pid.pid += 1;
  EXPECT_FALSE(a.OpensAsClient(own_with_other_pid));
  // Anyone else's only when offlogd is root.
  EXPECT_EQ(a.OpensAsClient(Cred(kUid, kGid)), geteuid() == 0);
  PeerCredentials other_groups = OwnCredentials();
  other_groups.groups.push_back(kGid);
  EXPECT_EQ(a.OpensAsClient(other_groups), geteuid() == 0);
}

}  // namespace
}  // namespace offlog
