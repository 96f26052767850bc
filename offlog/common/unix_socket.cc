#include "offlog/common/unix_socket.h"

#include <errno.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace offlog {
namespace {

constexpr absl::Duration kBacklogRetry = absl::Microseconds(200);

// 0 on success, else errno.
int SetTimeout(int fd, int option, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return 0;
  timeval tv = absl::ToTimeval(timeout);
  return setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv)) == 0 ? 0 : errno;
}

// 0 on success, else errno.
int Configure(int fd, const UnixConnectOptions& options) {
  int bytes = options.send_buffer_bytes;
  if (bytes > 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) != 0) {
    return errno;
  }
  if (int err = SetTimeout(fd, SO_SNDTIMEO, options.send_timeout)) return err;
  return SetTimeout(fd, SO_RCVTIMEO, options.receive_timeout);
}

}  // namespace

socklen_t UnixAddress(absl::string_view path, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr->sun_path)) return 0;
  path.copy(addr->sun_path, path.size());
  return offsetof(sockaddr_un, sun_path) + path.size() + 1;
}

UniqueFd ConnectUnixSocket(absl::string_view path,
                           const UnixConnectOptions& options, int* error) {
  sockaddr_un addr;
  if (UnixAddress(path, &addr) == 0) {
    *error = ENAMETOOLONG;
    return UniqueFd();
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    *error = errno;
    return UniqueFd();
  }
  if ((*error = Configure(fd.get(), options)) != 0) return UniqueFd();
  while (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
         0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN && absl::Now() < options.retry_full_backlog_until) {
      absl::SleepFor(kBacklogRetry);
      continue;
    }
    *error = errno;
    return UniqueFd();
  }
  *error = 0;
  return fd;
}

absl::StatusOr<UniqueFd> ConnectUnix(absl::string_view path,
                                     const UnixConnectOptions& options) {
  int error = 0;
  UniqueFd fd = ConnectUnixSocket(path, options, &error);
  if (!fd.valid()) {
    return absl::ErrnoToStatus(error, absl::StrCat("connect ", path));
  }
  return fd;
}

void AttachFd(int fd, OneFdControl* control, msghdr* msg) {
  msg->msg_control = control->bytes;
  msg->msg_controllen = sizeof(control->bytes);
  cmsghdr* cmsg = CMSG_FIRSTHDR(msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
}

}  // namespace offlog
