// Runs the real offlogd binary for a test: on a socket in a fresh short
// directory under /tmp (Unix socket paths hold at most 107 bytes, Bazel's
// TEST_TMPDIR is longer), with its output captured to a file, and helpers
// that speak the wire protocol over real sockets.
#ifndef OFFLOG_TESTING_SERVER_HARNESS_H_
#define OFFLOG_TESTING_SERVER_HARNESS_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace testing {

// The path of the built offlogd: from the test's runfiles, or $OFFLOGD.
std::string OfflogdPath();

// Resource limits the server is started with (setrlimit before exec).
struct ServerLimits {
  uint64_t file_size = 0;   // RLIMIT_FSIZE in bytes; 0 leaves it alone.
  uint64_t open_files = 0;  // RLIMIT_NOFILE; 0 leaves it alone.
};

class ServerProcess {
 public:
  // Starts offlogd with `-s <dir>/s.sock --notify` plus `extra_args` (whose
  // own -s, if any, wins), and
  // returns once it has said READY=1 on a NOTIFY_SOCKET made for it.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::vector<std::string> extra_args = {}, ServerLimits limits = {});
  ServerProcess() = default;  // Use Start().
  ~ServerProcess();           // SIGKILLs the server if it still runs.

  const std::string& socket_path() const { return socket_path_; }
  // A directory for target files (the server's own temporary directory).
  const std::string& dir() const { return dir_.path(); }
  std::string File(absl::string_view name) const { return dir_.File(name); }
  pid_t pid() const { return pid_; }

  absl::Status Signal(int sig);
  // Waits for the server to exit; returns its wait status.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // Waits for the next sd_notify message (e.g. "STOPPING=1").
  absl::StatusOr<std::string> NextNotification(absl::Duration timeout);
  // Everything the server has printed so far (stdout and stderr).
  std::string Log() const;
  // Waits until the server's output contains `text`.
  absl::Status WaitForLog(absl::string_view text, absl::Duration timeout) const;
  // Waits until `text` occurs at least `n` times in the server's output
  // (e.g. n clients " connected", whatever their ids).
  absl::Status WaitForLogCount(absl::string_view text, int n,
                               absl::Duration timeout) const;

 private:
  TempDir dir_;
  std::string socket_path_;
  std::string log_path_;
  UniqueFd notify_;
  UniqueFd pidfd_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Connects to `socket_path`.
absl::StatusOr<UniqueFd> Connect(absl::string_view socket_path);

// Connects and sends `path`, a NUL and `data` in one send().
absl::StatusOr<UniqueFd> OpenTarget(absl::string_view socket_path,
                                    absl::string_view path,
                                    absl::string_view data = {});

// Writes all of `data` (blocking).
absl::Status SendAll(int fd, absl::string_view data);

// Reads one NUL-terminated server message (without its NUL). Returns
// DEADLINE_EXCEEDED on timeout and UNAVAILABLE on end of stream.
absl::StatusOr<std::string> ReadMessage(int fd, absl::Duration timeout);

// Reads until the peer closes the connection and returns what came before
// the end; DEADLINE_EXCEEDED if it is still open after `timeout`.
absl::StatusOr<std::string> ReadUntilClosed(int fd, absl::Duration timeout);

// shutdown(SHUT_WR), then reads messages until "BYE"; returns the last
// message read (so "BYE" on success).
absl::StatusOr<std::string> FinishAndWaitBye(int fd, absl::Duration timeout);

// The whole content of a file, or an empty string if it does not exist.
std::string ReadFileOrEmpty(absl::string_view path);

// Polls `condition` every millisecond until it holds or `timeout` passes,
// for states that no event announces (a file's content, /proc).
absl::Status WaitUntil(const std::function<bool()>& condition,
                       absl::Duration timeout, absl::string_view what);

// A target that hangs the way a dead NFS mount does: a FIFO whose reader
// never reads.
struct StalledTarget {
  UniqueFd reader;  // Read from it to let the writer go on.
  UniqueFd client;  // The stalled client's connection.
};

// Makes a FIFO at `fifo`, opens it through the server, and fills the pipe
// and then the client's socket; returns once the pipe is full, that is once
// the path's writer is stuck in write().
absl::StatusOr<StalledTarget> StallOn(absl::string_view socket_path,
                                      const std::string& fifo);

// PIDs of `pid`'s child processes.
std::vector<pid_t> ChildPids(pid_t pid);

// The fields of /proc/PID/stat after "pid (comm) ": [0] is field 3 of
// proc(5), the state letter. Empty if the process is gone.
std::vector<std::string> ProcStatFields(pid_t pid);

// Numeric field `field` of /proc/PID/stat, numbered as in proc(5) (19:
// nice, 22: start time); nullopt if the process is gone.
std::optional<int64_t> ProcStatNumber(pid_t pid, int field);

// The first number after `key` (e.g. "VmRSS:", "Uid:", "Anonymous:") on its
// line of /proc/PID/`file` ("status", "smaps_rollup"), or -1.
int64_t ProcNumber(pid_t pid, absl::string_view file, absl::string_view key);

// PIDs of the processes that hold `path` open (scanning /proc/*/fd).
std::vector<pid_t> PidsWithFileOpen(absl::string_view path);

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_SERVER_HARNESS_H_
