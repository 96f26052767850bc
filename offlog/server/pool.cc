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
WriterPool::WriterPool(WriterConfig config, int prefork)
    : config_(config), prefork_(prefork) {}

absl::Status WriterPool::Start() {
  absl::StatusOr<Spawner> spawner = Spawner::Start(config_);
  if (!spawner.ok()) return spawner.status();
  spawner_ = *std::move(spawner);
  return absl::OkStatus();
}

absl::StatusOr<WriterProc*> WriterPool::Spawn() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  absl::StatusOr<SpawnedWriter> spawned = spawner_.Spawn(child_end.get());
  if (!spawned.ok()) return spawned.status();
  auto w = std::make_unique<WriterProc>();
  w->pid = spawned->pid;
  w->channel = std::move(parent_end);
  w->stats = std::move(spawned->stats);
  WriterProc* raw = w.get();
  writers_[w->pid] = std::move(w);
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
