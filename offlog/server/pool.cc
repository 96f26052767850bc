#include "offlog/server/pool.h"

#include <errno.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "offlog/server/server_log.h"

namespace offlog {

std::string WriterKey(absl::string_view path, absl::string_view creds_key) {
  if (creds_key.empty()) return std::string(path);
  return absl::StrCat(path, absl::string_view("\0", 1), creds_key);
}

WriterPool::WriterPool(WriterConfig config, int prefork, int max_writers)
    : config_(std::move(config)),
      prefork_(prefork),
      max_writers_(max_writers) {}

absl::StatusOr<int> WriterPool::Start() {
  config_.priority = PlanStartPriority(config_.starting_nice_delta,
                                       config_.starting_spare_cpus);
  absl::StatusOr<SpawnerProcess> spawner = StartSpawner(config_);
  if (!spawner.ok()) return spawner.status();
  spawner_ = *std::move(spawner);
  return spawner_.channel.fd();
}

void WriterPool::SetState(WriterProc* w, WriterProc::State state) {
  if (w->state == WriterProc::State::kIdle) idle_.erase(w);
  if (w->state == WriterProc::State::kStarting) --starting_;
  w->state = state;
  if (state == WriterProc::State::kIdle) idle_.insert(w);
  if (state == WriterProc::State::kStarting) ++starting_;
}

void WriterPool::Uncount(WriterProc* w) {
  if (!w->counted) return;
  w->counted = false;
  auto it = writers_of_.find(w->owner);
  if (it != writers_of_.end() && --it->second <= 0) writers_of_.erase(it);
}

WriterProc* WriterPool::Bound(absl::string_view key) {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second;
}

void WriterPool::OnConfirmed(WriterProc* w) {
  if (!w->starting_priority) return;
  w->starting_priority = false;
  RestoreWriterPriority(config_.priority, w->pid);
}

WriterProc* WriterPool::BindIdle(absl::string_view key, absl::string_view path,
                                 uid_t owner, bool one_shot) {
  if (idle_.empty()) return nullptr;
  WriterProc* chosen = *idle_.begin();
  SetState(chosen, WriterProc::State::kBusy);
  chosen->path = std::string(path);
  chosen->key = std::string(key);
  chosen->owner = owner;
  chosen->counted = true;
  ++writers_of_[owner];
  chosen->one_shot = one_shot;
  const WriterStats& st = *chosen->stats.get();
  chosen->base = {st.bytes_written.load(), st.records_written.load(),
                  st.write_errors.load(), st.last_write_ms.load()};
  by_key_[chosen->key] = chosen;
  return chosen;
}

int WriterPool::WritersOf(uid_t uid) const {
  auto it = writers_of_.find(uid);
  return it == writers_of_.end() ? 0 : it->second;
}

std::vector<WriterProc*> WriterPool::RequestWriters(int extra) {
  std::vector<WriterProc*> started;
  if (!spawner_.channel.valid()) return started;
  while (IdleCount() + starting_ < prefork_ + extra &&
         static_cast<int>(writers_.size()) < max_writers_ &&
         starting_ < kMaxStarting) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      LogError("Cannot start a writer: socketpair: %s", strerror(errno));
      break;
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    ChannelMessage req;
    req.type = MsgType::kSpawn;
    req.client_id = next_id_;
    if (!spawner_.channel.Send(req, theirs.get()).ok()) {
      LogError("Cannot start a writer: the spawner is gone");
      spawner_.channel = Channel();
      break;
    }
    auto w = std::make_unique<WriterProc>();
    w->id = next_id_++;
    w->channel = Channel(std::move(ours));
    WriterProc* raw = w.get();
    writers_[raw->id] = std::move(w);
    raw->state = WriterProc::State::kRetiring;  // Not counted anywhere yet.
    SetState(raw, WriterProc::State::kStarting);
    started.push_back(raw);
  }
  return started;
}

bool WriterPool::OnSpawnerReadable(std::vector<uint64_t>* failed) {
  while (spawner_.channel.valid()) {
    absl::StatusOr<std::optional<ChannelMessage>> reply =
        spawner_.channel.Receive();
    if (!reply.ok()) {
      LogError("The writer spawner (pid %d) is gone: %s", spawner_.pid,
               reply.status().ToString());
      spawner_.channel = Channel();
      break;
    }
    if (!reply->has_value()) return true;
    Adopt(**std::move(reply), failed);
  }
  // Writers that will never be started.
  for (auto& [id, w] : writers_) {
    if (w->state == WriterProc::State::kStarting) failed->push_back(id);
  }
  for (uint64_t id : *failed) Remove(id);
  return false;
}

void WriterPool::Adopt(ChannelMessage reply, std::vector<uint64_t>* failed) {
  WriterProc* w = Find(reply.client_id);
  if (w == nullptr || w->state != WriterProc::State::kStarting) return;
  absl::StatusOr<SharedStats> stats =
      reply.fd ? SharedStats::Attach(std::move(reply.fd))
               : absl::InternalError("no stats memory");
  if (reply.pid <= 0 || !stats.ok()) {
    LogError("The spawner could not start a writer");
    failed->push_back(w->id);
    Remove(w->id);
    return;
  }
  w->pid = reply.pid;
  w->stats = *std::move(stats);
  by_pid_[w->pid] = w;
  SetState(w, WriterProc::State::kIdle);
}

void WriterPool::FlushSpawner() {
  if (spawner_.channel.valid() && !spawner_.channel.Flush().ok()) {
    LogError("The writer spawner is gone");
    spawner_.channel = Channel();
  }
}

void WriterPool::StartClosing(WriterProc* w) {
  auto it = by_key_.find(w->key);
  if (it != by_key_.end() && it->second == w) by_key_.erase(it);
  SetState(w, WriterProc::State::kClosing);
}

bool WriterPool::FinishClosing(WriterProc* w) {
  Uncount(w);
  w->path.clear();
  w->key.clear();
  if (w->one_shot || IdleCount() >= prefork_) {
    SetState(w, WriterProc::State::kRetiring);
    return true;
  }
  SetState(w, WriterProc::State::kIdle);
  return false;
}

WriterProc* WriterPool::Find(uint64_t id) {
  auto it = writers_.find(id);
  return it == writers_.end() ? nullptr : it->second.get();
}

WriterProc* WriterPool::FindPid(pid_t pid) {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : it->second;
}

std::unique_ptr<WriterProc> WriterPool::Remove(uint64_t id) {
  auto it = writers_.find(id);
  if (it == writers_.end()) return nullptr;
  std::unique_ptr<WriterProc> w = std::move(it->second);
  writers_.erase(it);
  SetState(w.get(), WriterProc::State::kRetiring);
  Uncount(w.get());
  if (w->pid != 0) by_pid_.erase(w->pid);
  auto k = by_key_.find(w->key);
  if (k != by_key_.end() && k->second == w.get()) by_key_.erase(k);
  return w;
}

}  // namespace offlog
