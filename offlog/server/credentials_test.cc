#include "offlog/server/credentials.h"

#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace offlog {
namespace {

TEST(CredentialsTest, ReadsOwnCredentialsFromASocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  absl::StatusOr<PeerCredentials> cred = ReadPeerCredentials(sv[0]);
  ASSERT_TRUE(cred.ok()) << cred.status();
  EXPECT_EQ(cred->pid, getpid());
  EXPECT_EQ(cred->uid, geteuid());
  EXPECT_EQ(cred->gid, getegid());
  std::vector<gid_t> mine(getgroups(0, nullptr));
  getgroups(mine.size(), mine.data());
  EXPECT_EQ(cred->groups.size(), mine.size());
  close(sv[0]);
  close(sv[1]);
}

TEST(CredentialsTest, OwnCredentialsAreWhatAPeerSeesOfUs) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  absl::StatusOr<PeerCredentials> peer = ReadPeerCredentials(sv[0]);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(CredentialsKey(OwnCredentials()), CredentialsKey(*peer));
  EXPECT_EQ(OwnCredentials().groups, peer->groups);
  close(sv[0]);
  close(sv[1]);
}

TEST(CredentialsTest, LooksUpGroupsByNameOrNumber) {
  EXPECT_EQ(*LookUpGroup("0"), 0u);
  EXPECT_EQ(*LookUpGroup("root"), 0u);
  absl::StatusOr<gid_t> none = LookUpGroup("no-such-group-offlog");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no such group: no-such-group-offlog");
  EXPECT_FALSE(LookUpGroup("").ok());
}

TEST(CredentialsTest, KeyDependsOnEveryCredential) {
  PeerCredentials a{1, 1000, 100, {4, 27}};
  PeerCredentials b = a;
  b.pid = 2;
  EXPECT_EQ(CredentialsKey(a), CredentialsKey(b));  // pid is not a credential
  b.groups = {4};
  EXPECT_NE(CredentialsKey(a), CredentialsKey(b));
  b = a;
  b.gid = 101;
  EXPECT_NE(CredentialsKey(a), CredentialsKey(b));
}

TEST(CredentialsTest, ParsesNamesAndNumbers) {
  auto uids = ParseUserList({"root,1000", "65534"});
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(*uids, (std::vector<uid_t>{0, 1000, 65534}));
  auto gids = ParseGroupList({"root"});
  ASSERT_TRUE(gids.ok());
  EXPECT_EQ(*gids, (std::vector<gid_t>{0}));
  EXPECT_FALSE(ParseUserList({"no-such-user-offlog"}).ok());
  EXPECT_FALSE(ParseUserList({"root,"}).ok());
}

TEST(PeerPolicyTest, UnsetAllowsAnyoneListedAllowsUsersOrGroups) {
  PeerCredentials nobody{1, 65534, 65534, {}};
  PeerCredentials member{1, 1000, 1000, {50}};
  EXPECT_TRUE(PeerPolicy().Allows(nobody));
  PeerPolicy p({0}, {50});
  EXPECT_FALSE(p.Allows(nobody));
  EXPECT_TRUE(p.Allows(member));  // by supplementary group
  EXPECT_TRUE(p.Allows(PeerCredentials{1, 0, 0, {}}));
  EXPECT_TRUE(PeerPolicy({}, {1000}).Allows(member));  // by primary gid
}

}  // namespace
}  // namespace offlog
