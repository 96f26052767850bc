#include "offlog/server/pool.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

// In a freshly forked writer: close every descriptor inherited from the
// acceptor (the listener, other writers' channels, client sockets) except
// stdio, the log file and `keep`.
void CloseInheritedFds(int keep) {
  // close_range() costs one call however many descriptors the acceptor
  // holds (two per client): a scan of /proc/self/fd would make every fork
  // O(clients), and the acceptor forks while clients wait for OK.
  std::vector<int> kept = {STDERR_FILENO, keep, ServerLogFileFd()};
  std::sort(kept.begin(), kept.end());
  kept.push_back(INT_MAX);
  for (size_t i = 0; i + 1 < kept.size(); ++i) {
    if (kept[i] < STDERR_FILENO) continue;
    unsigned first = kept[i] + 1, last = kept[i + 1] - 1;
    if (first <= last) close_range(first, last, 0);
  }
}

// Writers leave signals to the acceptor: a terminal's Ctrl-C or systemd's
// SIGTERM to the whole group must not cut a writer off mid-drain; the
// acceptor tells each writer when to stop.
void SetUpWriterSignals() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);  // A FIFO target without a reader: EPIPE.
  signal(SIGXFSZ, SIG_IGN);  // RLIMIT_FSIZE: EFBIG to the client instead.
  signal(SIGCHLD, SIG_DFL);
}

}  // namespace

WriterPool::WriterPool(WriterConfig config, int prefork)
    : config_(config), prefork_(prefork) {}

absl::StatusOr<WriterProc*> WriterPool::Spawn() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  absl::StatusOr<SharedStats> stats = SharedStats::Create();
  if (!stats.ok()) return stats.status();
  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    CloseInheritedFds(child_end.get());
    SetUpWriterSignals();
    // Never return into the acceptor's code: leave without running its
    // destructors, which would act on descriptors this process does not own.
    _exit(RunWriter(std::move(child_end), config_, stats->get()));
  }
  auto w = std::make_unique<WriterProc>();
  w->pid = pid;
  w->channel = std::move(parent_end);
  w->stats = *std::move(stats);
  WriterProc* raw = w.get();
  writers_[pid] = std::move(w);
  return raw;
}

absl::StatusOr<WriterProc*> WriterPool::ForPath(absl::string_view path,
                                                absl::string_view creds_key,
                                                bool one_shot) {
  std::string key =
      creds_key.empty()
          ? std::string(path)
          : absl::StrCat(path, absl::string_view("\0", 1), creds_key);
  auto it = by_path_.find(key);
  if (it != by_path_.end()) return it->second;
  WriterProc* chosen = nullptr;
  for (auto& [pid, w] : writers_) {
    if (w->state == WriterProc::State::kIdle) {
      chosen = w.get();
      break;
    }
  }
  if (chosen == nullptr) {
    absl::StatusOr<WriterProc*> spawned = Spawn();
    if (!spawned.ok()) return spawned.status();
    chosen = *spawned;
  }
  chosen->state = WriterProc::State::kBusy;
  chosen->path = std::string(path);
  const WriterStats& st = *chosen->stats.get();
  chosen->base = {st.bytes_written.load(), st.records_written.load(),
                  st.write_errors.load(), st.last_write_ms.load()};
  chosen->key = std::move(key);
  chosen->one_shot = one_shot;
  by_path_[chosen->key] = chosen;
  return chosen;
}

std::vector<WriterProc*> WriterPool::Replenish() {
  std::vector<WriterProc*> spawned;
  for (int idle = IdleCount(); idle < prefork_; ++idle) {
    absl::StatusOr<WriterProc*> w = Spawn();
    if (!w.ok()) {
      LogError("Cannot start a writer: %s", w.status().ToString());
      break;
    }
    spawned.push_back(*w);
  }
  return spawned;
}

void WriterPool::StartClosing(WriterProc* w) {
  auto it = by_path_.find(w->key);
  if (it != by_path_.end() && it->second == w) by_path_.erase(it);
  w->state = WriterProc::State::kClosing;
}

bool WriterPool::FinishClosing(WriterProc* w) {
  w->path.clear();
  w->key.clear();
  if (w->one_shot || IdleCount() >= prefork_) {
    w->state = WriterProc::State::kRetiring;
    return true;
  }
  w->state = WriterProc::State::kIdle;
  return false;
}

WriterProc* WriterPool::Find(pid_t pid) {
  auto it = writers_.find(pid);
  return it == writers_.end() ? nullptr : it->second.get();
}

std::unique_ptr<WriterProc> WriterPool::Remove(pid_t pid) {
  auto it = writers_.find(pid);
  if (it == writers_.end()) return nullptr;
  std::unique_ptr<WriterProc> w = std::move(it->second);
  writers_.erase(it);
  auto p = by_path_.find(w->key);
  if (p != by_path_.end() && p->second == w.get()) by_path_.erase(p);
  return w;
}

int WriterPool::IdleCount() const {
  int n = 0;
  for (const auto& [pid, w] : writers_) {
    if (w->state == WriterProc::State::kIdle) ++n;
  }
  return n;
}

}  // namespace offlog
