// The acceptor's view of its writer processes: which exist, which key (path,
// and credentials when writers act as clients) each serves, which are idle,
// and which are still being started by the spawner.
//
// Nothing here waits: starting a writer is a request to the spawner
// (RequestWriters), answered later (OnSpawned); until then the writer is
// kStarting. Writers are kept ready ahead of need (--prefork idle ones, plus
// one for each key that is waiting for a writer), so a new path usually
// takes an idle writer without any fork on its connect path.
#ifndef OFFLOG_SERVER_POOL_H_
#define OFFLOG_SERVER_POOL_H_

#include <sys/epoll.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/server/channel.h"
#include "offlog/server/spawner.h"
#include "offlog/server/writer.h"
#include "offlog/server/writer_stats.h"

namespace offlog {

struct WriterProc {
  enum class State {
    kStarting,  // Asked of the spawner; no pid yet.
    kIdle,      // No path; ready for one.
    kBusy,      // Serving `path`.
    kClosing,   // Told to close `path`; waiting for kClosed.
    kRetiring,  // Told to exit (beyond the pool size, or shutting down).
  };
  uint64_t id = 0;  // The pool's name for it (epoll key), from before its pid.
  pid_t pid = 0;    // 0 while kStarting.
  Channel channel;
  uint32_t epoll_events = EPOLLIN;  // What the acceptor watches `channel` for.
  SharedStats stats;
  State state = State::kStarting;
  std::string path;
  // What clients share this writer by: the path, plus the credentials it
  // opens with when acting as the client (see WriterKey).
  std::string key;
  uid_t owner = 0;       // The uid whose writer bound this one counts against.
  bool counted = false;  // Counted in the pool's writers per owner.
  // It dropped to a client's credentials: it can never serve anyone else,
  // so it exits once its file is closed instead of going back to the pool.
  bool one_shot = false;
  uint64_t clients = 0;  // Assigned and not yet reported done.
  int in_flight = 0;     // Assigned and not yet reported taken (kTaken).
  // MonotonicMs() of its last kTaken, or of the assignment that ended a
  // time with none in flight.
  int64_t last_taken_ms = 0;
  // Still at the CPU weight it started with (priority.h), below the
  // acceptor's, until its first client is confirmed.
  bool starting_priority = true;
  bool reopen_queued = false;
  bool stall_logged = false;
  // `stats` when the writer took `path`. The shared counters run over the
  // process's life, and a writer serves one path after another; an idle
  // writer writes nothing, so these make the counts exact per path.
  struct Base {
    uint64_t bytes_written = 0;
    uint64_t records_written = 0;
    uint64_t write_errors = 0;
    int64_t last_write_ms = 0;
  } base;
};

// The key clients share a writer by: `path`, plus `creds_key` (empty when
// the writer opens as the server user).
std::string WriterKey(absl::string_view path, absl::string_view creds_key);

class WriterPool {
 public:
  // Writers asked of the spawner and not started yet, at most. A burst of
  // new files is served by a steady stream of new writers rather than a
  // herd of a thousand processes starting at once. They start off the
  // acceptor's spared CPU (priority.h), so the stream may be deep: 16
  // brought 9,000 connections over 900 new files to 0.8-1.0x the original
  // server's p99, where 4 left it at 0.9-1.2x (docs/PERFORMANCE.md).
  static constexpr int kMaxStarting = 16;

  // At most `max_writers` writer processes exist at once (kStarting ones
  // included); `prefork` of them are kept idle when there is room.
  WriterPool(WriterConfig config, int prefork, int max_writers);

  // Starts the spawner. Call once, early: before the acceptor holds clients
  // or starts a thread. Returns the spawner's channel descriptor, which the
  // caller watches and serves with OnSpawnerReadable().
  absl::StatusOr<int> Start();

  // Writers' start priority, as decided by Start().
  const StartPriority& priority() const { return config_.priority; }

  // The writer bound to `key`, or null.
  WriterProc* Bound(absl::string_view key);
  // Binds an idle writer to `key` for `path`, counted against `owner`;
  // null when none is idle.
  WriterProc* BindIdle(absl::string_view key, absl::string_view path,
                       uid_t owner, bool one_shot);
  // `w` told a client OK: it has its file open, and runs at the acceptor's
  // CPU weight from now on (priority.h).
  void OnConfirmed(WriterProc* w);
  // Busy writers (bound, closing) counted against `uid`.
  int WritersOf(uid_t uid) const;

  // Asks the spawner for writers until `prefork + extra` are idle or
  // starting, within max_writers. Returns the writers now starting, whose
  // channels the caller must watch.
  std::vector<WriterProc*> RequestWriters(int extra);
  // Takes the spawner's answers. Each writer that started is idle now;
  // each one that could not be started is forgotten (its id is returned in
  // `failed` so the caller stops watching its channel). Returns false once
  // the spawner is gone.
  bool OnSpawnerReadable(std::vector<uint64_t>* failed);
  // Sends queued spawn requests (on EPOLLOUT of the spawner's channel).
  void FlushSpawner();
  bool SpawnerWantsWrite() const { return spawner_.channel.queued() > 0; }

  // Marks `w` closing and unbinds it, so new clients of its key go to
  // another writer while this one closes the file.
  void StartClosing(WriterProc* w);
  // A writer that finished closing: idle again, or retiring when enough are
  // idle already or it is one-shot. Returns true when it should be told to
  // exit.
  bool FinishClosing(WriterProc* w);

  WriterProc* Find(uint64_t id);
  WriterProc* FindPid(pid_t pid);
  // Forgets a writer that exited; returns its record.
  std::unique_ptr<WriterProc> Remove(uint64_t id);

  const absl::flat_hash_map<uint64_t, std::unique_ptr<WriterProc>>& writers()
      const {
    return writers_;
  }
  int IdleCount() const { return static_cast<int>(idle_.size()); }
  int StartingCount() const { return starting_; }
  pid_t spawner_pid() const { return spawner_.pid; }
  int spawner_fd() const { return spawner_.channel.fd(); }
  // Whether a writer may still become idle without one closing: the
  // spawner is alive, or writers are starting.
  bool CanStartWriters() const {
    return spawner_.channel.valid() || starting_ > 0;
  }

 private:
  void SetState(WriterProc* w, WriterProc::State state);
  void Uncount(WriterProc* w);
  void Adopt(ChannelMessage reply, std::vector<uint64_t>* failed);

  WriterConfig config_;
  int prefork_;
  int max_writers_;
  SpawnerProcess spawner_;
  uint64_t next_id_ = 1;
  absl::flat_hash_set<WriterProc*> idle_;
  int starting_ = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<WriterProc>> writers_;
  absl::flat_hash_map<pid_t, WriterProc*> by_pid_;
  absl::flat_hash_map<std::string, WriterProc*> by_key_;
  absl::flat_hash_map<uid_t, int> writers_of_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_POOL_H_
