// offlogd's control socket, which offlogctl talks to (protocol in
// control_protocol.h). It runs inside the acceptor's event loop and must
// never block it: every socket is non-blocking, and a client that does not
// finish its request promptly is dropped.
#ifndef OFFLOG_SERVER_CONTROL_H_
#define OFFLOG_SERVER_CONTROL_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/control_protocol.h"
#include "offlog/server/listener.h"
#include "offlog/server/pool.h"

namespace offlog {

// Builds a snapshot from the pool and `acceptor`, the acceptor's own
// counters (this fills in its pid, uptime since `started_ms` and the writer
// counts). `queued` gives the bytes waiting in the sockets of a writer's
// clients (by the writer's pool id). A writer counts as stalled once it has
// been inside one open() or write() for `stall_ms`.
ServerSnapshot BuildSnapshot(const WriterPool& pool, AcceptorSnapshot acceptor,
                             int64_t started_ms,
                             const std::function<uint64_t(uint64_t)>& queued,
                             int64_t stall_ms);

class ControlServer {
 public:
  struct Handlers {
    std::function<ServerSnapshot()> status;
    // Tells every writer to reopen its file; returns how many were told.
    std::function<int()> reopen;
  };

  // Serves on `listener` (from BindListener). Its socket file is removed
  // when the server is destroyed.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Create(
      Listener listener, Handlers handlers);
  ~ControlServer();

  // Readable whenever the control server has work; the caller watches it
  // (EPOLLIN) and calls OnReady().
  int fd() const { return epoll_.get(); }
  void OnReady();

 private:
  struct Connection {
    UniqueFd fd;
    std::string request;
    std::string answer;
    size_t sent = 0;
    int64_t deadline_ms = 0;
  };

  ControlServer(Listener listener, Handlers handlers, UniqueFd epoll,
                UniqueFd timer, UniqueFd expiry);
  // Accepts what is pending. A peer whose credentials cannot be read is
  // refused, as is any uid but offlogd's own and root.
  void Accept();
  // Out of descriptors (`err`): stops watching the listener and arms
  // `timer_`; ResumeAccepting, when it fires, watches it again.
  void PauseAccepting(int err);
  void ResumeAccepting();
  void OnConnection(uint64_t id);
  std::string Answer(absl::string_view request);
  // Sends what the socket takes; true when the whole answer is out.
  bool Flush(Connection& c);
  // Closes the connections past their deadline.
  void ExpireConnections();
  // Sets `expiry_` to the earliest deadline left (disarms it when none), so
  // that OnReady runs then even if nothing else happens.
  void ArmExpiry();

  Listener listener_;
  Handlers handlers_;
  UniqueFd epoll_;
  UniqueFd timer_;   // timerfd: the end of an accept pause.
  UniqueFd expiry_;  // timerfd: the earliest connection deadline.
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, Connection> connections_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_CONTROL_H_
