#include "offlog/server/channel.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
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

// Runs `fn` in a child process as uid and gid 65534 (no capabilities, no
// supplementary groups) with RLIMIT_NOFILE `nofile`; returns what it
// returned ("" for success), or how the child failed.
std::string RunUnprivileged(rlim_t nofile,
                            const std::function<std::string()>& fn) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(out[0]);
    rlimit rl = {nofile, nofile};
    std::string result =
        setgroups(0, nullptr) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                setresuid(65534, 65534, 65534) == 0 &&
                setrlimit(RLIMIT_NOFILE, &rl) == 0
            ? fn()
            : "could not become 65534 with a small RLIMIT_NOFILE";
    (void)!write(out[1], result.data(), result.size());
    _exit(0);
  }
  close(out[1]);
  std::string result;
  char buf[4096];
  pollfd p = {out[0], POLLIN, 0};
  // The deadline only detects a hang.
  while (poll(&p, 1, 10000) > 0) {
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.append(buf, n);
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) absl::StrAppend(&result, " (child died)");
  return result;
}

// The kernel refuses to pass more descriptors than the sender's
// RLIMIT_NOFILE while that user has that many in flight (not yet received):
// sendmsg() fails with ETOOMANYREFS, which says nothing about the peer and
// raises no EPOLLOUT once the peer reads. The channel must keep the message
// (and its descriptor) queued, report "retry later" (needs_retry), not a
// dead peer, and deliver it once the peer has drained the others. Real
// root (CAP_SYS_RESOURCE) is exempt from the limit, hence the child as
// 65534; the test needs root to become it (tagged no-sandbox).
TEST(ChannelTest, TooManyDescriptorsInFlightIsRetriedNotPeerDeath) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to uid 65534";
  constexpr rlim_t kNoFile = 32;
  std::string result = RunUnprivileged(kNoFile, []() -> std::string {
    Pair p = MakePair();
    // The descriptor passed: a socket, which every kernel counts in flight.
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return absl::StrCat("socketpair: ", strerror(errno));
    }
    UniqueFd mine(sv[0]), theirs(sv[1]);
    ChannelMessage m;
    m.type = MsgType::kAssign;
    uint64_t sent = 0;
    // Far fewer than the peer's queue holds (net.unix.max_dgram_qlen, 512
    // by default), so only ETOOMANYREFS can stop the sends.
    constexpr uint64_t kMaxTries = 4 * kNoFile;
    while (p.a.queued() == 0 && sent < kMaxTries) {
      m.client_id = sent++;
      absl::Status s = p.a.Send(m, theirs.get());
      if (!s.ok())
        return absl::StrCat("Send ", m.client_id, ": ", s.ToString());
    }
    if (p.a.queued() != 1) {
      return absl::StrCat("no message was held back after ", sent, " sends");
    }
    if (!p.a.needs_retry()) return "held back, but not marked for a retry";
    const uint64_t held = sent - 1;
    // Still refused: still queued, still a retry, still no error.
    if (absl::Status s = p.a.Flush(); !s.ok()) {
      return absl::StrCat("Flush while refused: ", s.ToString());
    }
    if (p.a.queued() != 1 || !p.a.needs_retry()) {
      return "Flush while refused did not keep the message for a retry";
    }
    // The peer drains what it was sent, which takes those descriptors out
    // of flight.
    for (uint64_t i = 0; i < held; ++i) {
      absl::StatusOr<std::optional<ChannelMessage>> got = p.b.Receive();
      if (!got.ok() || !got->has_value() || (*got)->client_id != i ||
          !(*got)->fd.valid()) {
        return absl::StrCat("message ", i, " did not arrive whole");
      }
    }
    if (absl::Status s = p.a.Flush(); !s.ok()) {
      return absl::StrCat("Flush after the drain: ", s.ToString());
    }
    if (p.a.queued() != 0 || p.a.needs_retry()) {
      return "the held message was not sent after the drain";
    }
    absl::StatusOr<std::optional<ChannelMessage>> got = p.b.Receive();
    if (!got.ok() || !got->has_value()) return "the held message is missing";
    if ((*got)->client_id != held) {
      return absl::StrCat("got client_id ", (*got)->client_id, ", want ", held);
    }
    if (!(*got)->fd.valid()) return "the held message lost its descriptor";
    // It is the descriptor that was attached: it reaches `mine`.
    if (write((*got)->fd.get(), "x", 1) != 1) return "write through it failed";
    char c = 0;
    if (read(mine.get(), &c, 1) != 1 || c != 'x') {
      return "the held descriptor is not the one attached";
    }
    return "";
  });
  EXPECT_EQ(result, "");
}

}  // namespace
}  // namespace offlog
