#include "offlog/server/channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace offlog {
namespace {

struct Pair {
  Channel a, b;
};

Pair MakePair() {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  return {Channel(UniqueFd(sv[0])), Channel(UniqueFd(sv[1]))};
}

TEST(ChannelTest, EncodeDecodeRoundTrip) {
  ChannelMessage m;
  m.type = MsgType::kAssign;
  m.flags = kAssignAsClient | kAssignToldOk;
  m.client_id = 1234567890123;
  m.pid = 42;
  m.uid = 1000;
  m.gid = 100;
  m.groups = {4, 24, 27};
  m.raw_path = "/d//x.log";
  m.path = "/d/x.log";
  absl::StatusOr<ChannelMessage> got =
      DecodeChannelMessage(EncodeChannelMessage(m));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->type, m.type);
  EXPECT_EQ(got->flags, m.flags);
  EXPECT_EQ(got->client_id, m.client_id);
  EXPECT_EQ(got->pid, 42);
  EXPECT_EQ(got->uid, 1000u);
  EXPECT_EQ(got->gid, 100u);
  EXPECT_EQ(got->groups, m.groups);
  EXPECT_EQ(got->raw_path, m.raw_path);
  EXPECT_EQ(got->path, m.path);
}

TEST(ChannelTest, CredentialsTravelWhole) {
  PeerCredentials cred;
  cred.pid = 7;
  cred.uid = 1000;
  cred.gid = 100;
  cred.groups = {4, 24};
  ChannelMessage m;
  SetCredentials(cred, &m);
  absl::StatusOr<ChannelMessage> got =
      DecodeChannelMessage(EncodeChannelMessage(m));
  ASSERT_TRUE(got.ok()) << got.status();
  PeerCredentials back = CredentialsOf(*got);
  EXPECT_EQ(back.pid, 7);
  EXPECT_EQ(CredentialsKey(back), CredentialsKey(cred));
}

TEST(ChannelTest, MalformedMessagesAreRejected) {
  ChannelMessage m;
  m.path = "abc";
  std::string data = EncodeChannelMessage(m);
  EXPECT_FALSE(DecodeChannelMessage(data.substr(0, 10)).ok());
  EXPECT_FALSE(DecodeChannelMessage(data + "x").ok());
  EXPECT_FALSE(DecodeChannelMessage(data.substr(0, data.size() - 1)).ok());
}

TEST(ChannelTest, DescriptorTravelsWithItsMessage) {
  Pair p = MakePair();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  ChannelMessage m;
  m.type = MsgType::kSpawn;
  m.client_id = 7;
  ASSERT_TRUE(p.a.Send(m, w.get()).ok());
  w.Reset();
  absl::StatusOr<std::optional<ChannelMessage>> got = p.b.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->client_id, 7u);
  ASSERT_TRUE((*got)->fd.valid());
  ASSERT_EQ(write((*got)->fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(ChannelTest, ReceiveOnEmptyChannelReturnsNothingAtOnce) {
  Pair p = MakePair();
  absl::StatusOr<std::optional<ChannelMessage>> got = p.b.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

// A peer that does not read: Send never blocks, the rest waits in the
// outbox, with its descriptors, and arrives in order once the peer reads.
TEST(ChannelTest, FullSocketQueuesInOrderWithoutBlocking) {
  Pair p = MakePair();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  ChannelMessage m;
  m.type = MsgType::kAssign;
  m.path = std::string(4000, 'p');
  constexpr int kMessages = 2000;  // Far more than a socket buffer holds.
  for (int i = 0; i < kMessages; ++i) {
    m.client_id = i;
    ASSERT_TRUE(p.a.Send(m, i % 10 == 0 ? w.get() : -1).ok());
  }
  ASSERT_GT(p.a.queued(), 0u);
  w.Reset();  // The queued copies keep the pipe open.
  int received = 0;
  while (received < kMessages) {
    ASSERT_TRUE(p.a.Flush().ok());
    while (true) {
      absl::StatusOr<std::optional<ChannelMessage>> got = p.b.Receive();
      ASSERT_TRUE(got.ok()) << got.status();
      if (!got->has_value()) break;
      EXPECT_EQ((*got)->client_id, static_cast<uint64_t>(received));
      EXPECT_EQ((*got)->fd.valid(), received % 10 == 0);
      ++received;
    }
  }
  EXPECT_EQ(p.a.queued(), 0u);
}

TEST(ChannelTest, PeerGoneIsAnError) {
  Pair p = MakePair();
  p.b = Channel();
  ChannelMessage m;
  EXPECT_FALSE(p.a.Send(m).ok());
  absl::StatusOr<std::optional<ChannelMessage>> got = p.a.Receive();
  EXPECT_FALSE(got.ok());
}

}  // namespace
}  // namespace offlog
