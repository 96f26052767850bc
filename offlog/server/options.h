// offlogd's command line. The original server's flags keep both of their
// spellings (-s/--socket-file, -l/--logfile, -n/--notify,
// -r/--rotate-check-interval, -h/--help); the rest are offlogd's own.
#ifndef OFFLOG_SERVER_OPTIONS_H_
#define OFFLOG_SERVER_OPTIONS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "offlog/common/protocol.h"
#include "offlog/server/defaults.h"

namespace offlog {

struct ServerOptions {
  std::string socket_file = std::string(kDefaultSocketPath);
  std::string logfile;  // Empty: no log file.
  bool notify = false;
  int rotate_check_interval_ms = kDefaultRotateCheckIntervalMs;
  int prefork = 2;
  int handshake_timeout_ms = 5000;
  int shutdown_timeout_ms = 10000;
  mode_t socket_mode = 0600;
  std::string socket_group;  // Empty: the server's own group.
  bool atomic_lines = kDefaultAtomicLines;
  int line_hold_ms = kDefaultLineHoldMs;
  int coalesce_us = kDefaultCoalesceUs;
  // Nice levels below the acceptor at which writers start (priority.h).
  int writer_start_nice = kStartingNiceDelta;
  // CPUs kept free of starting writers (priority.h).
  int writer_start_spare_cpus = kStartingSpareCpus;
  bool peek_reads = kDefaultPeekReads;
  // --control-socket; unset: the default (see ControlSocketPath), empty:
  // no control socket.
  std::optional<std::string> control_socket;
  // Comma-separated user/group names or numbers, one entry per flag given;
  // empty: anyone who can connect. See credentials.h.
  std::vector<std::string> allow_uid;
  std::vector<std::string> allow_gid;
  // Directories target paths must lie below; empty: anywhere.
  std::vector<std::string> allow_dir;
  // As root: open files as root rather than as the client.
  bool open_as_server_user = false;
  // Per-uid bounds (bounds.h); 0: derived from the limits in force.
  int max_connections_per_uid = 0;
  int max_writers_per_uid = 0;
  int max_waiting_per_file = 2048;
  // --log-target: "auto" (the journal when stderr is connected to it),
  // "journal" or "stream" (stdout/stderr in the original's format).
  std::string log_target = "auto";
  bool help = false;
};

// Parses argv. On --help, returns options with `help` set; the caller prints
// Usage() and exits 0.
absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv);

std::string ServerUsage();

// The control socket to bind, or "" for none: --control-socket when given,
// else the main socket's path plus ".ctl", or none when systemd passed the
// main socket (its path is systemd's business then, so no default is safe).
std::string ControlSocketPath(const ServerOptions& options,
                              bool socket_activated);

}  // namespace offlog

#endif  // OFFLOG_SERVER_OPTIONS_H_
