// Passing a file descriptor with a small message over a Unix socket
// (SCM_RIGHTS). The acceptor hands each client connection to its writer this
// way; the message rides in the same datagram so the two cannot be separated.
#ifndef OFFLOG_COMMON_FD_PASSING_H_
#define OFFLOG_COMMON_FD_PASSING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

// Sends `payload` on `sock` (a SOCK_SEQPACKET or SOCK_DGRAM socket) with a
// copy of `fd` attached, or with no descriptor when `fd` < 0. Blocks only as
// the socket does; returns UNAVAILABLE when the peer is gone.
absl::Status SendWithFd(int sock, absl::string_view payload, int fd);

struct ReceivedMessage {
  std::string payload;
  UniqueFd fd;  // Invalid when none was attached.
};

// Receives one message of at most `max_payload` bytes and the descriptor
// attached to it. Returns UNAVAILABLE on end of stream (peer closed) and
// the errno otherwise; descriptors received are always owned, never leaked.
absl::StatusOr<ReceivedMessage> RecvWithFd(int sock, size_t max_payload);

// absl::Status carrying errno `err`, with `what` as context.
absl::Status ErrnoStatus(int err, absl::string_view what);

}  // namespace offlog

#endif  // OFFLOG_COMMON_FD_PASSING_H_
