// The listening socket: bound here, or inherited from systemd.
#ifndef OFFLOG_SERVER_LISTENER_H_
#define OFFLOG_SERVER_LISTENER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

struct Listener {
  UniqueFd fd;
  // The socket file this process created, and its inode; empty when the
  // socket came from systemd (which owns the file then).
  std::string path;
  ino_t inode = 0;
};

// Takes the socket systemd passed (LISTEN_PID is us and LISTEN_FDS >= 1:
// descriptor 3), or else binds `path`.
//
// Binding refuses a path where a live server answers; a stale socket file
// (nothing listening) is replaced. The socket is bound under a temporary
// name in the same directory, given `mode` and `group`, and then renamed
// onto `path`, so the path never names a socket with looser permissions.
absl::StatusOr<Listener> OpenListener(absl::string_view path, mode_t mode,
                                      absl::string_view group);

// Binds `path` as OpenListener does, but never takes a socket from systemd
// (for the control socket).
absl::StatusOr<Listener> BindListener(absl::string_view path, mode_t mode,
                                      absl::string_view group);

// Unlinks the socket file if it is still the one this listener created.
void RemoveSocketFile(const Listener& listener);

// Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET as sd_notify(3) does; a
// no-op when the variable is unset.
absl::Status NotifySystemd(absl::string_view state);

}  // namespace offlog

#endif  // OFFLOG_SERVER_LISTENER_H_
