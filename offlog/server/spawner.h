// The spawner: a small process that forks writers for the acceptor.
//
// Forking the acceptor itself gets dearer as it grows: every fork write-
// protects its whole address space, the acceptor then copy-faults its way
// through its working set (with TLB shootdowns, costly in a VM), and the
// child inherits two descriptors per client only to close them. Exec'ing a
// fresh binary instead pays for dynamic linking every time. So offlogd forks
// one spawner at start, while it is still small and holds no client, and
// asks it for each writer.
//
// Writers must still be the acceptor's children, so that it learns of their
// deaths (SIGCHLD, waitpid) at once: the acceptor is a child subreaper, and
// the spawner double-forks, so each writer is reparented to the acceptor as
// soon as its intermediate parent exits, before its pid is reported.
#ifndef OFFLOG_SERVER_SPAWNER_H_
#define OFFLOG_SERVER_SPAWNER_H_

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/writer.h"
#include "offlog/server/writer_stats.h"

namespace offlog {

struct SpawnedWriter {
  pid_t pid = 0;
  SharedStats stats;
};

class Spawner {
 public:
  // Makes the calling process a child subreaper and forks the spawner,
  // which serves writers with `config`.
  static absl::StatusOr<Spawner> Start(const WriterConfig& config);

  Spawner() = default;
  Spawner(Spawner&&) = default;
  Spawner& operator=(Spawner&&) = default;

  // Starts a writer that serves the acceptor over `channel` (the writer's
  // end of a channel socketpair; the caller keeps and closes its copy).
  absl::StatusOr<SpawnedWriter> Spawn(int channel);

 private:
  explicit Spawner(UniqueFd sock) : sock_(std::move(sock)) {}
  UniqueFd sock_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_SPAWNER_H_
