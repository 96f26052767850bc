// How much of the host one user may take of offlogd: the per-uid bounds,
// derived from the limits that actually apply to the acceptor, so that they
// hold on any host (a flag set to a positive number overrides each).
//
// Descriptors: every connection costs the acceptor one (its kept copy of the
// socket) and every writer one (its channel). Of RLIMIT_NOFILE (after
// offlogd raised it), kDescriptorReserve are kept for offlogd itself
// (listener, epoll, control, log, a connection to refuse with), a quarter of
// the rest may go to writer channels, and no uid may hold more than half of
// what remains in connections, so another uid can always connect.
//
// Processes: writers are offlogd's processes whoever they act as, so they
// count against the limit on offlogd's own processes: the cgroup's pids.max
// where one applies (systemd's TasksMax), else RLIMIT_NPROC unless offlogd
// is root, capped by kernel.pid_max. No uid may hold more than half of them.
//
// Descriptors in flight (sent with SCM_RIGHTS, not yet received) count
// against the sender's RLIMIT_NOFILE: at most a quarter of it are in flight.
#ifndef OFFLOG_SERVER_BOUNDS_H_
#define OFFLOG_SERVER_BOUNDS_H_

#include <cstdint>
#include <string>

#include "offlog/server/options.h"

namespace offlog {

inline constexpr int kDescriptorReserve = 64;
// Assignments a writer may have unanswered (sent, not yet kTaken): a writer
// stuck in open() or write() holds no more than these of its clients' sockets
// in its channel; the rest wait in the acceptor.
inline constexpr int kMaxInFlightPerWriter = 64;

struct Bounds {
  int64_t descriptors = 0;  // RLIMIT_NOFILE, soft.
  int64_t processes = 0;    // The process limit that applies (above).
  int max_writers = 0;
  int max_writers_per_uid = 0;
  int max_connections = 0;
  int max_connections_per_uid = 0;
  int max_in_flight = 0;
  // Clients waiting in the acceptor for one writer (its key): its queue.
  // One uid may fill at most half of it.
  int max_waiting_per_file = 0;

  std::string ToString() const;
};

// Reads the limits now in force and applies `options`' overrides.
Bounds DeriveBounds(const ServerOptions& options);

// The parts of DeriveBounds that read the host, for tests.
int64_t ProcessLimit();

}  // namespace offlog

#endif  // OFFLOG_SERVER_BOUNDS_H_
