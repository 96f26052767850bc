// Connecting to a Unix stream socket by path: the one routine the client,
// offlogctl, the benchmarks and the tests use.
//
// Error convention (as for every system-call wrapper in offlog/common): the
// errno of the call that failed, so that each caller words it as it must
// (the client as Python's OSError, offlogctl and tests as absl::Status).
#ifndef OFFLOG_COMMON_UNIX_SOCKET_H_
#define OFFLOG_COMMON_UNIX_SOCKET_H_

#include <sys/socket.h>
#include <sys/un.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

// Fills *addr with `path` (a file system name, used as is) and returns the
// length to pass with it, or 0 when `path` does not fit in sun_path.
socklen_t UnixAddress(absl::string_view path, sockaddr_un* addr);

struct UnixConnectOptions {
  // SO_SNDTIMEO, which on Linux also bounds a blocking connect() while the
  // server's listen backlog is full. Zero: none.
  absl::Duration send_timeout = absl::ZeroDuration();
  // SO_RCVTIMEO. Zero: none.
  absl::Duration receive_timeout = absl::ZeroDuration();
  // SO_SNDBUF in bytes; 0 leaves the system's default.
  int send_buffer_bytes = 0;
  // While connect() fails with EAGAIN (the backlog is full and no send
  // timeout waits for it), try again every 200 µs until this time.
  absl::Time retry_full_backlog_until = absl::InfinitePast();
};

// Connects a new SOCK_STREAM socket (close-on-exec, blocking) to `path`,
// retrying connect() on EINTR. Returns it, or an invalid descriptor with
// *error set to the errno of the call that failed (ENAMETOOLONG when the
// path does not fit in sun_path).
UniqueFd ConnectUnixSocket(absl::string_view path,
                           const UnixConnectOptions& options, int* error);

// The same with the error as absl::ErrnoToStatus(errno, "connect <path>").
absl::StatusOr<UniqueFd> ConnectUnix(absl::string_view path,
                                     const UnixConnectOptions& options = {});

// Room in a message's ancillary data for one descriptor.
struct OneFdControl {
  alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int))] = {};
};

// Makes `msg` carry `fd` (SCM_RIGHTS) in `control`, which must outlive the
// sendmsg() of `msg`.
void AttachFd(int fd, OneFdControl* control, msghdr* msg);

}  // namespace offlog

#endif  // OFFLOG_COMMON_UNIX_SOCKET_H_
