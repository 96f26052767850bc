// WriterPool against a real spawner: each test starts one (it forks, from
// the single-threaded test process) and its writers (children of the test
// process: the spawner clones them with CLONE_PARENT), and TearDown kills
// and reaps every one of them.
#include "offlog/server/pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "offlog/testing/wait_fd.h"

namespace offlog {
namespace {

using State = WriterProc::State;

// How long the spawner may take to answer: a bound on a hang, not a timing
// assertion (forks are slow on a loaded 2-CPU machine).
constexpr absl::Duration kSpawnDeadline = absl::Seconds(60);

class PoolTest : public ::testing::Test {
 protected:
  // Makes the pool and starts its spawner.
  void StartPool(int prefork, int max_writers) {
    pool_ = std::make_unique<WriterPool>(WriterConfig(), prefork, max_writers);
    absl::StatusOr<int> fd = pool_->Start();
    ASSERT_TRUE(fd.ok()) << fd.status();
    EXPECT_EQ(*fd, pool_->spawner_fd());
    EXPECT_GE(*fd, 0);
    ASSERT_GT(pool_->spawner_pid(), 0);
    spawner_pid_ = pool_->spawner_pid();
  }

  // Serves the spawner's channel, as the acceptor's loop does, until no
  // writer is starting: every request answered, every writer idle.
  void WaitForStarted() {
    const absl::Time deadline = absl::Now() + kSpawnDeadline;
    while (pool_->StartingCount() > 0) {
      if (pool_->SpawnerWantsWrite()) pool_->FlushSpawner();
      short events = POLLIN;
      if (pool_->SpawnerWantsWrite()) events |= POLLOUT;
      ASSERT_TRUE(testing::WaitForEvents(pool_->spawner_fd(), events, deadline))
          << "the spawner did not answer; still starting: "
          << pool_->StartingCount();
      std::vector<uint64_t> failed;
      ASSERT_TRUE(pool_->OnSpawnerReadable(&failed)) << "the spawner is gone";
      EXPECT_TRUE(failed.empty());
    }
  }

  // RequestWriters(extra), checking what it returns: new, kStarting
  // writers the pool knows by id.
  std::vector<WriterProc*> Request(int extra) {
    const int starting = pool_->StartingCount();
    std::vector<WriterProc*> started = pool_->RequestWriters(extra);
    EXPECT_EQ(pool_->StartingCount(),
              starting + static_cast<int>(started.size()));
    for (WriterProc* w : started) {
      EXPECT_EQ(w->state, State::kStarting);
      EXPECT_EQ(w->pid, 0);
      EXPECT_TRUE(w->channel.valid());
      EXPECT_EQ(pool_->Find(w->id), w);
      EXPECT_TRUE(ids_.insert(w->id).second) << "id reused: " << w->id;
    }
    return started;
  }

  // Writers that were started and are now idle, with pids the pool finds.
  void ExpectIdle(const std::vector<WriterProc*>& ws) {
    for (WriterProc* w : ws) {
      EXPECT_EQ(w->state, State::kIdle);
      EXPECT_GT(w->pid, 0);
      EXPECT_NE(w->pid, spawner_pid_);
      EXPECT_EQ(pool_->FindPid(w->pid), w);
      EXPECT_EQ(kill(w->pid, 0), 0) << "writer " << w->pid << " is not alive";
    }
  }

  // Fills the idle pool to `n` writers (and prefork).
  std::vector<WriterProc*> StartIdle(int prefork, int max_writers) {
    StartPool(prefork, max_writers);
    std::vector<WriterProc*> started = Request(0);
    EXPECT_EQ(static_cast<int>(started.size()), prefork);
    WaitForStarted();
    ExpectIdle(started);
    return started;
  }

  // A writer record the test takes out of the pool: its process is still
  // the test's to end.
  void Forget(std::unique_ptr<WriterProc> w) {
    if (w != nullptr && w->pid > 0) removed_pids_.push_back(w->pid);
  }

  void TearDown() override {
    if (pool_ == nullptr) return;
    // With every request answered, the spawner is not cloning and every
    // writer's pid is known.
    if (pool_->spawner_fd() >= 0) WaitForStarted();
    std::vector<pid_t> pids = removed_pids_;
    for (const auto& [id, w] : pool_->writers()) {
      if (w->pid > 0) pids.push_back(w->pid);
    }
    // The spawner first, so that no writer starts after the count.
    EXPECT_EQ(kill(spawner_pid_, SIGKILL), 0);
    EXPECT_EQ(waitpid(spawner_pid_, nullptr, 0), spawner_pid_);
    for (pid_t pid : pids) {
      EXPECT_EQ(kill(pid, SIGKILL), 0) << pid;
      EXPECT_EQ(waitpid(pid, nullptr, 0), pid);
    }
    pool_.reset();
    // Nothing left behind: no child, running or a zombie.
    errno = 0;
    EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }

  std::unique_ptr<WriterPool> pool_;
  pid_t spawner_pid_ = 0;
  std::set<uint64_t> ids_;
  std::vector<pid_t> removed_pids_;
};

TEST_F(PoolTest, StartsPreforkWritersAtMostMaxStartingAtOnce) {
  constexpr int kPrefork = WriterPool::kMaxStarting + 2;
  StartPool(kPrefork, 20);
  EXPECT_TRUE(pool_->CanStartWriters());
  EXPECT_EQ(pool_->IdleCount(), 0);

  std::vector<WriterProc*> first = Request(0);
  EXPECT_EQ(static_cast<int>(first.size()), WriterPool::kMaxStarting);
  EXPECT_EQ(pool_->StartingCount(), WriterPool::kMaxStarting);
  EXPECT_EQ(pool_->writers().size(), first.size());
  // No more while that many are starting, however many are wanted.
  EXPECT_TRUE(Request(0).empty());
  EXPECT_TRUE(Request(10).empty());

  WaitForStarted();
  ExpectIdle(first);
  EXPECT_EQ(pool_->IdleCount(), WriterPool::kMaxStarting);
  EXPECT_EQ(pool_->StartingCount(), 0);

  // The rest of the prefork, and no more.
  std::vector<WriterProc*> rest = Request(0);
  EXPECT_EQ(static_cast<int>(rest.size()), kPrefork - WriterPool::kMaxStarting);
  WaitForStarted();
  ExpectIdle(rest);
  EXPECT_EQ(pool_->IdleCount(), kPrefork);
  EXPECT_TRUE(Request(0).empty());

  // `extra`: one more for each key waiting for a writer.
  std::vector<WriterProc*> extra = Request(1);
  EXPECT_EQ(extra.size(), 1u);
  WaitForStarted();
  ExpectIdle(extra);
  EXPECT_EQ(pool_->IdleCount(), kPrefork + 1);
  EXPECT_EQ(pool_->writers().size(), static_cast<size_t>(kPrefork + 1));

  std::set<pid_t> pids;
  for (const auto& [id, w] : pool_->writers()) pids.insert(w->pid);
  EXPECT_EQ(pids.size(), pool_->writers().size()) << "pids not distinct";
}

TEST_F(PoolTest, PreforkBelowMaxStartingAsksForPreforkOnly) {
  StartPool(2, 20);
  EXPECT_EQ(Request(0).size(), 2u);
  EXPECT_TRUE(Request(0).empty());  // Starting ones count towards prefork.
  WaitForStarted();
  EXPECT_EQ(pool_->IdleCount(), 2);
}

TEST_F(PoolTest, MaxWritersCapsRequests) {
  StartPool(2, 3);
  std::vector<WriterProc*> started = Request(5);
  EXPECT_EQ(started.size(), 3u);
  WaitForStarted();
  ExpectIdle(started);
  EXPECT_TRUE(Request(5).empty());

  // Busy writers count towards the cap as well as idle ones.
  WriterProc* w = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(Request(5).empty());
  EXPECT_EQ(pool_->writers().size(), 3u);

  // Once one has exited (and is forgotten), there is room for one.
  Forget(pool_->Remove(w->id));
  std::vector<WriterProc*> again = Request(5);
  EXPECT_EQ(again.size(), 1u);
  WaitForStarted();
  ExpectIdle(again);
  EXPECT_EQ(pool_->writers().size(), 3u);
}

TEST_F(PoolTest, BindIdleBindsOneWriterToAKey) {
  StartIdle(2, 10);
  const std::string key = WriterKey("/logs/a.log", "");
  EXPECT_EQ(key, "/logs/a.log");
  EXPECT_EQ(pool_->Bound(key), nullptr);

  WriterProc* w = pool_->BindIdle(key, "/logs/a.log", 1000, false);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->state, State::kBusy);
  EXPECT_EQ(w->key, key);
  EXPECT_EQ(w->path, "/logs/a.log");
  EXPECT_EQ(w->owner, 1000u);
  EXPECT_TRUE(w->counted);
  EXPECT_FALSE(w->one_shot);
  EXPECT_EQ(pool_->Bound(key), w);
  EXPECT_EQ(pool_->IdleCount(), 1);
  EXPECT_EQ(pool_->FindPid(w->pid), w);

  // The same path with a client's credentials is another key.
  const std::string as_client = WriterKey("/logs/a.log", "1000:1000:");
  EXPECT_NE(as_client, key);
  EXPECT_EQ(pool_->Bound(as_client), nullptr);
  WriterProc* w2 = pool_->BindIdle(as_client, "/logs/a.log", 1000, true);
  ASSERT_NE(w2, nullptr);
  EXPECT_NE(w2, w);
  EXPECT_TRUE(w2->one_shot);
  EXPECT_EQ(pool_->Bound(as_client), w2);
  EXPECT_EQ(pool_->Bound(key), w);
  EXPECT_EQ(pool_->Bound("/logs/b.log"), nullptr);

  // None idle: nothing to bind.
  EXPECT_EQ(pool_->IdleCount(), 0);
  EXPECT_EQ(pool_->BindIdle("/logs/b.log", "/logs/b.log", 1000, false),
            nullptr);
  EXPECT_EQ(pool_->Bound("/logs/b.log"), nullptr);
}

TEST_F(PoolTest, WritersOfCountsBoundAndClosingWritersPerOwner) {
  StartIdle(3, 10);
  WriterProc* a = pool_->BindIdle("/a", "/a", 1000, false);
  WriterProc* b = pool_->BindIdle("/b", "/b", 1000, false);
  WriterProc* c = pool_->BindIdle("/c", "/c", 2000, false);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(pool_->WritersOf(1000), 2);
  EXPECT_EQ(pool_->WritersOf(2000), 1);
  EXPECT_EQ(pool_->WritersOf(3000), 0);

  // Closing: unbound at once, still counted until it has closed.
  pool_->StartClosing(a);
  EXPECT_EQ(a->state, State::kClosing);
  EXPECT_EQ(pool_->Bound("/a"), nullptr);
  EXPECT_EQ(pool_->WritersOf(1000), 2);

  EXPECT_FALSE(pool_->FinishClosing(a));  // 0 idle < prefork: back to pool.
  EXPECT_EQ(pool_->WritersOf(1000), 1);
  EXPECT_FALSE(a->counted);
  pool_->StartClosing(c);
  EXPECT_FALSE(pool_->FinishClosing(c));
  EXPECT_EQ(pool_->WritersOf(2000), 0);
  EXPECT_EQ(pool_->WritersOf(1000), 1);
}

TEST_F(PoolTest, FinishClosingReturnsAWriterToThePool) {
  StartIdle(2, 10);
  WriterProc* w = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(w, nullptr);
  pool_->StartClosing(w);
  EXPECT_EQ(pool_->Bound("/a"), nullptr);
  EXPECT_EQ(pool_->IdleCount(), 1);

  // A client of the key while the writer closes gets another writer.
  WriterProc* next = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(next, nullptr);
  EXPECT_NE(next, w);
  EXPECT_EQ(pool_->Bound("/a"), next);
  EXPECT_EQ(pool_->WritersOf(1000), 2);
  EXPECT_EQ(pool_->IdleCount(), 0);

  // Fewer than prefork idle: the closed writer is idle again, with no path;
  // the key stays with the writer that took it meanwhile.
  EXPECT_FALSE(pool_->FinishClosing(w));
  EXPECT_EQ(w->state, State::kIdle);
  EXPECT_TRUE(w->path.empty());
  EXPECT_TRUE(w->key.empty());
  EXPECT_EQ(pool_->IdleCount(), 1);
  EXPECT_EQ(pool_->Bound("/a"), next);
  EXPECT_EQ(pool_->WritersOf(1000), 1);
  EXPECT_EQ(pool_->FindPid(w->pid), w);

  // And it can be bound again, to another key.
  EXPECT_EQ(pool_->BindIdle("/b", "/b", 2000, false), w);
  EXPECT_EQ(pool_->Bound("/b"), w);
  EXPECT_EQ(pool_->WritersOf(2000), 1);
}

TEST_F(PoolTest, FinishClosingRetiresBeyondPrefork) {
  StartIdle(2, 10);
  WriterProc* w = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(w, nullptr);
  // Refill the pool, as the acceptor does after each turn.
  std::vector<WriterProc*> refill = Request(0);
  EXPECT_EQ(refill.size(), 1u);
  WaitForStarted();
  EXPECT_EQ(pool_->IdleCount(), 2);

  pool_->StartClosing(w);
  EXPECT_TRUE(pool_->FinishClosing(w));  // Enough idle: told to exit.
  EXPECT_EQ(w->state, State::kRetiring);
  EXPECT_EQ(pool_->IdleCount(), 2);
  EXPECT_EQ(pool_->WritersOf(1000), 0);
  EXPECT_EQ(pool_->Bound("/a"), nullptr);
  // Not bindable: BindIdle takes only idle writers.
  for (int i = 0; i < 2; ++i) {
    WriterProc* got = pool_->BindIdle("/k" + std::to_string(i), "/k", 1, false);
    ASSERT_NE(got, nullptr);
    EXPECT_NE(got, w);
  }
  EXPECT_EQ(pool_->BindIdle("/k", "/k", 1, false), nullptr);
  // Until its exit is seen, it is still a writer (it counts towards
  // max_writers); then it is forgotten.
  EXPECT_EQ(pool_->FindPid(w->pid), w);
  Forget(pool_->Remove(w->id));
}

TEST_F(PoolTest, FinishClosingRetiresAOneShotWriter) {
  StartIdle(2, 10);
  WriterProc* w = pool_->BindIdle("/a", "/a", 1000, true);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(pool_->IdleCount(), 1);  // Below prefork...
  pool_->StartClosing(w);
  EXPECT_TRUE(pool_->FinishClosing(w));  // ...yet it may serve no one else.
  EXPECT_EQ(w->state, State::kRetiring);
  EXPECT_EQ(pool_->IdleCount(), 1);
  EXPECT_EQ(pool_->WritersOf(1000), 0);
}

TEST_F(PoolTest, RemoveForgetsAWriterEverywhere) {
  std::vector<WriterProc*> ws = StartIdle(3, 10);
  WriterProc* idle = ws[0];
  const uint64_t idle_id = idle->id;
  const pid_t idle_pid = idle->pid;
  EXPECT_EQ(pool_->Find(idle_id), idle);
  EXPECT_EQ(pool_->FindPid(idle_pid), idle);

  std::unique_ptr<WriterProc> gone = pool_->Remove(idle_id);
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone.get(), idle);
  EXPECT_EQ(gone->pid, idle_pid);
  EXPECT_EQ(pool_->Find(idle_id), nullptr);
  EXPECT_EQ(pool_->FindPid(idle_pid), nullptr);
  EXPECT_EQ(pool_->IdleCount(), 2);
  EXPECT_EQ(pool_->writers().size(), 2u);
  EXPECT_EQ(pool_->Remove(idle_id), nullptr);  // Once only.
  Forget(std::move(gone));

  // A bound writer: its key and its owner's count go with it.
  WriterProc* bound = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(bound, nullptr);
  EXPECT_EQ(pool_->WritersOf(1000), 1);
  const pid_t bound_pid = bound->pid;
  Forget(pool_->Remove(bound->id));
  EXPECT_EQ(pool_->Bound("/a"), nullptr);
  EXPECT_EQ(pool_->WritersOf(1000), 0);
  EXPECT_EQ(pool_->FindPid(bound_pid), nullptr);
  EXPECT_EQ(pool_->IdleCount(), 1);

  // A closing one that died: its key is already another writer's.
  WriterProc* closing = pool_->BindIdle("/b", "/b", 1000, false);
  ASSERT_NE(closing, nullptr);
  pool_->StartClosing(closing);
  std::vector<WriterProc*> more = Request(0);
  WaitForStarted();
  ExpectIdle(more);
  WriterProc* successor = pool_->BindIdle("/b", "/b", 1000, false);
  ASSERT_NE(successor, nullptr);
  EXPECT_EQ(pool_->WritersOf(1000), 2);
  Forget(pool_->Remove(closing->id));
  EXPECT_EQ(pool_->Bound("/b"), successor);
  EXPECT_EQ(pool_->WritersOf(1000), 1);

  EXPECT_EQ(pool_->FindPid(getpid()), nullptr);
  EXPECT_EQ(pool_->FindPid(spawner_pid_), nullptr);
  EXPECT_EQ(pool_->Find(0), nullptr);
}

TEST_F(PoolTest, OnConfirmedClearsStartingPriority) {
  StartIdle(1, 10);
  WriterProc* w = pool_->BindIdle("/a", "/a", 1000, false);
  ASSERT_NE(w, nullptr);
  const StartPriority& p = pool_->priority();
  EXPECT_TRUE(w->starting_priority);
  errno = 0;
  EXPECT_EQ(getpriority(PRIO_PROCESS, w->pid), p.starting_nice);
  EXPECT_EQ(errno, 0);
  if (p.lowered) {
    EXPECT_GT(p.starting_nice, p.serving_nice);
  } else {
    EXPECT_EQ(p.starting_nice, p.serving_nice);
  }

  pool_->OnConfirmed(w);
  EXPECT_FALSE(w->starting_priority);
  // Back at the acceptor's weight (where it had been lowered at all).
  errno = 0;
  EXPECT_EQ(getpriority(PRIO_PROCESS, w->pid), p.serving_nice);
  EXPECT_EQ(errno, 0);
  pool_->OnConfirmed(w);  // Once is enough; again changes nothing.
  EXPECT_FALSE(w->starting_priority);
  EXPECT_EQ(getpriority(PRIO_PROCESS, w->pid), p.serving_nice);
  // Whether the lowered path ran (not under linux-sandbox's namespaces).
  RecordProperty("start_priority_lowered", p.lowered ? "yes" : "no");
}

TEST_F(PoolTest, SpawnerGoneStopsRequests) {
  StartIdle(1, 10);
  ASSERT_EQ(kill(spawner_pid_, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitForEvents(pool_->spawner_fd(), POLLIN,
                                     absl::Now() + kSpawnDeadline));
  std::vector<uint64_t> failed;
  EXPECT_FALSE(pool_->OnSpawnerReadable(&failed));
  EXPECT_TRUE(failed.empty());  // None was starting.
  EXPECT_FALSE(pool_->CanStartWriters());
  EXPECT_TRUE(pool_->RequestWriters(5).empty());
  EXPECT_EQ(pool_->StartingCount(), 0);
  // The writers it started serve on.
  EXPECT_EQ(pool_->IdleCount(), 1);
  EXPECT_NE(pool_->BindIdle("/a", "/a", 1000, false), nullptr);
}

}  // namespace
}  // namespace offlog
