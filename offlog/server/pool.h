// The acceptor's view of its writer processes: which exist, which path each
// serves, which are idle. Writers are forked ahead of need (--prefork), so a
// new path is served by a process that already exists.
#ifndef OFFLOG_SERVER_POOL_H_
#define OFFLOG_SERVER_POOL_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/spawner.h"
#include "offlog/server/writer.h"
#include "offlog/server/writer_stats.h"

namespace offlog {

struct WriterProc {
  enum class State {
    kIdle,      // No path; ready for one.
    kBusy,      // Serving `path`.
    kClosing,   // Told to close `path`; waiting for kClosed.
    kRetiring,  // Told to exit (beyond the pool size, or shutting down).
  };
  pid_t pid = 0;
  UniqueFd channel;
  SharedStats stats;
  State state = State::kIdle;
  std::string path;
  // What clients share this writer by: the path, plus the credentials it
  // opens with when acting as the client (see ForPath).
  std::string key;
  // It dropped to a client's credentials: it can never serve anyone else,
  // so it exits once its file is closed instead of going back to the pool.
  bool one_shot = false;
  uint64_t clients = 0;  // Assigned and not yet reported done.
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

class WriterPool {
 public:
  // Writers are forked by a spawner process (spawner.h); Start() starts it.
  WriterPool(WriterConfig config, int prefork);

  // Starts the spawner. Call once, early: before the acceptor holds clients.
  absl::Status Start();

  // The writer serving `path` for clients with `creds_key` (empty when the
  // writer opens as the server user), else an idle one (forking one if none
  // is idle) now marked busy with them; `one_shot` marks a new writer that
  // will drop to the client's credentials.
  absl::StatusOr<WriterProc*> ForPath(absl::string_view path,
                                      absl::string_view creds_key = {},
                                      bool one_shot = false);

  // Forks writers until `prefork` are idle. Returns the new writers, whose
  // channels the caller must watch.
  std::vector<WriterProc*> Replenish();

  // Marks `w` closing and forgets its path, so new clients of the path go
  // to another writer while this one closes the file.
  void StartClosing(WriterProc* w);

  // A writer that finished closing: idle again, or retiring when enough are
  // idle already or it is one-shot. Returns true when it should be told to
  // exit.
  bool FinishClosing(WriterProc* w);

  WriterProc* Find(pid_t pid);
  // Forgets a writer that exited; returns its record.
  std::unique_ptr<WriterProc> Remove(pid_t pid);

  const absl::flat_hash_map<pid_t, std::unique_ptr<WriterProc>>& writers()
      const {
    return writers_;
  }
  int IdleCount() const;

 private:
  absl::StatusOr<WriterProc*> Spawn();

  WriterConfig config_;
  int prefork_;
  Spawner spawner_;
  absl::flat_hash_map<pid_t, std::unique_ptr<WriterProc>> writers_;
  absl::flat_hash_map<std::string, WriterProc*> by_path_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_POOL_H_
