// The spawner: a small process that starts writers for the acceptor.
//
// Forking the acceptor itself gets dearer as it grows: every fork write-
// protects its whole address space, the acceptor then copy-faults its way
// through its working set, and the child inherits two descriptors per client
// only to close them. So offlogd forks one spawner at start, while it is
// still small and holds no client, and asks it for writers over a channel
// (channel.h: kSpawn in, kSpawned out).
//
// The spawner starts each writer with clone(CLONE_PARENT): the writer is the
// acceptor's child, so the acceptor learns of its death at once (SIGCHLD,
// waitpid), and a writer costs one process creation, with no intermediate
// process to reap. The acceptor never waits for the spawner: requests and
// replies travel over the non-blocking channel, and the spawner may take
// its time (a fork costs milliseconds on a loaded VM).
#ifndef OFFLOG_SERVER_SPAWNER_H_
#define OFFLOG_SERVER_SPAWNER_H_

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "offlog/server/channel.h"
#include "offlog/server/writer.h"

namespace offlog {

// Forks the spawner, which serves writers with `config`, and returns the
// acceptor's end of its channel and its pid. Call once, early, from a
// single-threaded process: the spawner is a fork of the caller, and keeps
// none of its descriptors but the channel (stdio goes to /dev/null).
struct SpawnerProcess {
  pid_t pid = 0;
  Channel channel;
};
absl::StatusOr<SpawnerProcess> StartSpawner(const WriterConfig& config);

}  // namespace offlog

#endif  // OFFLOG_SERVER_SPAWNER_H_
