#include "offlog/server/refusals.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"

namespace offlog {
namespace {

struct Pair {
  UniqueFd server, client;
};

Pair MakePair() {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// What the client reads until EOF (or an error, as "<errno N>").
std::string ReadAll(int fd) {
  std::string got;
  char buf[256];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      got.append(buf, n);
    } else if (n == 0) {
      return got;
    } else {
      return got + "<errno " + std::to_string(errno) + ">";
    }
  }
}

class RefusalsTest : public ::testing::Test {
 protected:
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }
};

// The client sends its path after the refusal, as connect() then send()
// does: it neither fails with EPIPE nor loses the error; it reads the
// error, then EOF.
TEST_F(RefusalsTest, AClientThatSendsAfterTheRefusalReadsTheError) {
  Refusals refusals;
  Pair p = MakePair();
  const std::string error = std::string("OSError: refused") + '\0';
  ASSERT_EQ(send(p.server.get(), error.data(), error.size(), 0),
            static_cast<ssize_t>(error.size()));
  refusals.Hold(std::move(p.server), /*uid=*/0, 1000);
  EXPECT_EQ(send(p.client.get(), "/a/path", 8, MSG_NOSIGNAL), 8);
  EXPECT_EQ(ReadAll(p.client.get()), error);  // Then EOF: SHUT_WR.
  EXPECT_EQ(refusals.NextDueMs(), 1000 + Refusals::kLingerMs);
  refusals.CloseDue(1000 + Refusals::kLingerMs - 1);
  EXPECT_EQ(refusals.size(), 1u);
  refusals.CloseDue(1000 + Refusals::kLingerMs);
  EXPECT_EQ(refusals.size(), 0u);
  EXPECT_EQ(refusals.NextDueMs(), std::nullopt);
  // Closed after its path was read: no reset, and no more room to send.
  EXPECT_EQ(ReadAll(p.client.get()), "");
  EXPECT_EQ(send(p.client.get(), "x", 1, MSG_NOSIGNAL), -1);
  EXPECT_EQ(errno, EPIPE);
}

TEST_F(RefusalsTest, HoldsAtMostKMaxClosingTheOldestFirst) {
  Refusals refusals;
  std::vector<UniqueFd> clients;
  // Each uid stays within kMaxPerUid, so only the bound on all counts.
  for (size_t i = 0; i < Refusals::kMax + 3; ++i) {
    Pair p = MakePair();
    refusals.Hold(std::move(p.server), static_cast<uid_t>(i),
                  static_cast<int64_t>(i));
    clients.push_back(std::move(p.client));
  }
  EXPECT_EQ(refusals.size(), Refusals::kMax);
  EXPECT_EQ(refusals.NextDueMs(), 3 + Refusals::kLingerMs);
  for (size_t i = 0; i < clients.size(); ++i) {
    ssize_t n = send(clients[i].get(), "x", 1, MSG_NOSIGNAL);
    if (i < 3) {
      EXPECT_EQ(n, -1) << i;  // Closed: the three oldest.
    } else {
      EXPECT_EQ(n, 1) << i;
    }
  }
}

// One uid's flood closes its own oldest, never another uid's held ones
// before their time.
TEST_F(RefusalsTest, OneUidsFloodClosesOnlyItsOwn) {
  Refusals refusals;
  Pair victim = MakePair();
  refusals.Hold(std::move(victim.server), /*uid=*/0, 0);
  std::vector<UniqueFd> flood;
  for (size_t i = 0; i < 5 * Refusals::kMax; ++i) {
    Pair p = MakePair();
    refusals.Hold(std::move(p.server), /*uid=*/65534, 1);
    flood.push_back(std::move(p.client));
  }
  EXPECT_EQ(refusals.size(), 1 + Refusals::kMaxPerUid);
  EXPECT_EQ(send(victim.client.get(), "/path", 6, MSG_NOSIGNAL), 6);
  size_t open = 0;
  for (const UniqueFd& c : flood) {
    open += send(c.get(), "x", 1, MSG_NOSIGNAL) == 1;
  }
  EXPECT_EQ(open, Refusals::kMaxPerUid);  // The newest of the flood.
}

}  // namespace
}  // namespace offlog
