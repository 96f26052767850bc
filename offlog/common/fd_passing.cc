#include "offlog/common/fd_passing.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace offlog {

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err, what);
}

absl::Status SendWithFd(int sock, absl::string_view payload, int fd) {
  struct iovec iov = {const_cast<char*>(payload.data()), payload.size()};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EPIPE || errno == ECONNRESET) {
      return absl::UnavailableError("peer closed");
    }
    return ErrnoStatus(errno, "sendmsg");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReceivedMessage> RecvWithFd(int sock, size_t max_payload) {
  ReceivedMessage out;
  out.payload.resize(max_payload);
  struct iovec iov = {out.payload.data(), out.payload.size()};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == ECONNRESET) return absl::UnavailableError("peer closed");
    return ErrnoStatus(errno, "recvmsg");
  }
  // Take ownership of every descriptor first, so that none leaks whatever
  // else is wrong with the message.
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (!out.fd) {
        out.fd.Reset(fd);
      } else {
        UniqueFd extra(fd);
      }
    }
  }
  if (n == 0 && !out.fd) return absl::UnavailableError("peer closed");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    return absl::InvalidArgumentError("truncated control message");
  }
  out.payload.resize(n);
  return out;
}

}  // namespace offlog
