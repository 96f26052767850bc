// The control socket's protocol, shared by offlogd and offlogctl.
//
// SOCK_STREAM; one request per connection. The client sends one line
// ("status" or "reopen", ending in '\n'); the server answers and closes. An
// answer begins with "ok\n" or "error: <message>\n". The body of a "status"
// answer is a snapshot, one record a line, fields separated by tabs, each
// field "key=value":
//
//   acceptor<TAB>pid=..<TAB>uptime_ms=..<TAB>accepted=..<TAB>...
//   writer<TAB>pid=..<TAB>state=busy<TAB>clients=..<TAB>...<TAB>path=..
//
// Paths travel escaped with EscapeForLog, so they hold no tab, newline or
// other control character and cannot break a record; SerializeSnapshot
// passes the free-form fields (path, state) through SanitizeEscaped as
// well, so that holds whatever the snapshot contains. Unknown keys are
// ignored, so either side may add fields.
#ifndef OFFLOG_SERVER_CONTROL_PROTOCOL_H_
#define OFFLOG_SERVER_CONTROL_PROTOCOL_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace offlog {

inline constexpr absl::string_view kControlStatus = "status";
inline constexpr absl::string_view kControlReopen = "reopen";

struct AcceptorSnapshot {
  pid_t pid = 0;
  int64_t uptime_ms = 0;
  int64_t rotate_check_interval_ms = 0;
  uint64_t accepted = 0;    // Connections accepted since start.
  uint64_t refused = 0;     // Refused by the acceptor with an error.
  uint64_t handshakes = 0;  // Connected, path not yet complete.
  uint64_t clients = 0;     // Handed to a writer and not yet done.
  uint64_t writers_busy = 0;
  uint64_t writers_idle = 0;
  uint64_t writers_starting = 0;  // Asked of the spawner, not started yet.
  // Clients waiting in the acceptor for their file's writer, and the files
  // (writer keys) they wait for.
  uint64_t waiting = 0;
  uint64_t waiting_files = 0;
  uint64_t refused_limit = 0;  // Of `refused`: over a per-uid bound.
  uint64_t refused_busy = 0;   // Of `refused`: their writer's queue was full.
  uint64_t crash_history = 0;  // Keys the crash limiter remembers.
  uint64_t log_dropped = 0;    // Server log records dropped (log too slow).
  bool shutting_down = false;
};

struct WriterSnapshot {
  pid_t pid = 0;
  std::string state;  // idle, busy, closing, retiring.
  std::string path;   // Escaped (EscapeForLog); empty when idle.
  uint64_t clients = 0;
  // Since the writer took this path.
  uint64_t bytes_written = 0;
  uint64_t records_written = 0;  // Newlines.
  uint64_t write_errors = 0;
  // Bytes clients have sent that are still in their sockets, unwritten.
  uint64_t queued_bytes = 0;
  int64_t last_write_unix_ms = 0;  // 0: nothing written to this path yet.
  int64_t busy_ms = 0;             // Time in the current open()/write().
  // In one open() or write() for at least the rotate-check interval.
  bool stalled = false;
};

struct ServerSnapshot {
  AcceptorSnapshot acceptor;
  std::vector<WriterSnapshot> writers;
};

std::string SerializeSnapshot(const ServerSnapshot& snapshot);
absl::StatusOr<ServerSnapshot> ParseSnapshot(absl::string_view text);

// Splits an answer into its body, or the server's error.
absl::StatusOr<std::string> ParseControlAnswer(absl::string_view answer);

}  // namespace offlog

#endif  // OFFLOG_SERVER_CONTROL_PROTOCOL_H_
