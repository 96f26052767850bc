#include "offlog/server/handshake_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace offlog {
namespace {

constexpr int64_t kTimeoutMs = 1000;

// The time the table is given: it reads no clock of its own.
struct FakeClock {
  int64_t now_ms = 50000;
  void Advance(int64_t ms) { now_ms += ms; }
};

PendingHandshake Handshake(uint64_t id) {
  PendingHandshake p;
  p.id = id;
  p.cred = PeerCredentials{.pid = 1, .uid = 1000, .gid = 1000, .groups = {}};
  return p;
}

std::vector<uint64_t> AllExpired(HandshakeTable& table, int64_t now_ms) {
  std::vector<uint64_t> ids;
  while (std::optional<uint64_t> id = table.PopExpired(now_ms)) {
    ids.push_back(*id);
    table.Take(*id);  // As the acceptor refuses it.
  }
  return ids;
}

TEST(HandshakeTableTest, AddFindTake) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  table.Add(Handshake(7), clock.now_ms);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.contains(7));
  ASSERT_NE(table.Find(7), nullptr);
  EXPECT_EQ(table.Find(7)->id, 7u);
  EXPECT_EQ(table.Find(7)->cred->uid, 1000u);
  EXPECT_EQ(table.Find(8), nullptr);
  std::optional<PendingHandshake> p = table.Take(7);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->id, 7u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.Take(7).has_value());
}

TEST(HandshakeTableTest, TheParserKeepsWhatArrived) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  table.Add(Handshake(1), clock.now_ms);
  table.Find(1)->parser.Feed("/tmp/a");
  EXPECT_EQ(table.Find(1)->parser.path(), "/tmp/a");
  EXPECT_EQ(table.Find(1)->parser.state(), HandshakeParser::State::kNeedMore);
}

TEST(HandshakeTableTest, ExpiresAtTheDeadlineInAcceptOrder) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  EXPECT_EQ(table.NextDeadlineMs(), std::nullopt);
  const int64_t start = clock.now_ms;
  table.Add(Handshake(1), clock.now_ms);
  clock.Advance(10);
  table.Add(Handshake(2), clock.now_ms);
  clock.Advance(10);
  table.Add(Handshake(3), clock.now_ms);
  EXPECT_EQ(table.NextDeadlineMs(), start + kTimeoutMs);

  EXPECT_EQ(AllExpired(table, start + kTimeoutMs - 1), std::vector<uint64_t>{});
  EXPECT_EQ(table.size(), 3u);
  // A deadline is due at, not after, its time.
  EXPECT_EQ(AllExpired(table, start + kTimeoutMs + 10),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(table.NextDeadlineMs(), start + 20 + kTimeoutMs);
  EXPECT_EQ(AllExpired(table, start + 20 + kTimeoutMs),
            std::vector<uint64_t>{3});
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.NextDeadlineMs(), std::nullopt);
}

TEST(HandshakeTableTest, FinishedHandshakesDoNotExpire) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  table.Add(Handshake(1), clock.now_ms);
  table.Add(Handshake(2), clock.now_ms);
  table.Add(Handshake(3), clock.now_ms);
  table.Take(1);  // Completed and handed off.
  table.Take(3);  // Refused.
  // The finished handshake's deadline still stands first: waking for it is
  // harmless.
  EXPECT_EQ(table.NextDeadlineMs(), clock.now_ms + kTimeoutMs);
  clock.Advance(kTimeoutMs);
  EXPECT_EQ(AllExpired(table, clock.now_ms), std::vector<uint64_t>{2});
  EXPECT_EQ(table.NextDeadlineMs(), std::nullopt);
}

TEST(HandshakeTableTest, AnExpiredHandshakeStaysUntilTaken) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  table.Add(Handshake(1), clock.now_ms);
  clock.Advance(kTimeoutMs);
  EXPECT_EQ(table.PopExpired(clock.now_ms), 1u);
  // Still there for the caller to refuse, but reported once only.
  EXPECT_TRUE(table.contains(1));
  EXPECT_EQ(table.PopExpired(clock.now_ms), std::nullopt);
  EXPECT_EQ(table.PopOldest(), std::nullopt);
}

TEST(HandshakeTableTest, ShedsTheOldestFirst) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  for (uint64_t id = 1; id <= 4; ++id) {
    table.Add(Handshake(id), clock.now_ms);
    clock.Advance(1);
  }
  table.Take(1);  // Finished: not shed.
  EXPECT_EQ(table.PopOldest(), 2u);
  table.Take(2);
  EXPECT_EQ(table.PopOldest(), 3u);
  table.Take(3);
  // Whatever the time: nothing is due yet.
  EXPECT_EQ(table.PopExpired(clock.now_ms), std::nullopt);
  EXPECT_EQ(table.PopOldest(), 4u);
  table.Take(4);
  EXPECT_EQ(table.PopOldest(), std::nullopt);
  EXPECT_EQ(table.size(), 0u);
}

TEST(HandshakeTableTest, IdsListsEveryHandshake) {
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  for (uint64_t id : {5, 9, 2}) table.Add(Handshake(id), clock.now_ms);
  table.Take(9);
  std::vector<uint64_t> ids = table.Ids();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<uint64_t>{2, 5}));
}

TEST(HandshakeTableTest, TakeHandsOverTheSocket) {
  // The table owns each handshake's socket until Take() hands it over.
  FakeClock clock;
  HandshakeTable table(kTimeoutMs);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd other_end(fds[1]);
  PendingHandshake p = Handshake(1);
  p.fd.Reset(fds[0]);
  table.Add(std::move(p), clock.now_ms);
  std::optional<PendingHandshake> taken = table.Take(1);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->fd.get(), fds[0]);
  EXPECT_NE(fcntl(fds[0], F_GETFD), -1);  // Still open.
  taken.reset();
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);  // Closed with its handshake.
}

}  // namespace
}  // namespace offlog
