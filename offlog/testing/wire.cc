#include "offlog/testing/wire.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace offlog::bench {
namespace {

bool TimedOut(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& socket_path,
                                     absl::Duration poll_interval,
                                     int64_t deadline_ns) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("socket path too long");
  }
  memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket");
  struct timeval tv = absl::ToTimeval(poll_interval);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rc;
  while (true) {
    rc = connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr),
                 sizeof(addr));
    if (rc == 0) break;
    if (errno == EINTR) continue;
    // EAGAIN: the listen backlog is full; the server has yet to accept.
    if (errno != EAGAIN || NowNs() >= deadline_ns) break;
    usleep(200);
  }
  if (rc != 0) return absl::ErrnoToStatus(errno, "connect");
  return fd;
}

absl::Status SendAll(int fd, absl::string_view data, int64_t deadline_ns,
                     size_t* sent, const std::atomic<bool>* cancel) {
  *sent = 0;
  while (*sent < data.size()) {
    ssize_t n =
        send(fd, data.data() + *sent, data.size() - *sent, MSG_NOSIGNAL);
    if (n > 0) {
      *sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && TimedOut(errno)) {
      if (NowNs() >= deadline_ns || (cancel != nullptr && cancel->load())) {
        return absl::DeadlineExceededError("send stalled");
      }
      continue;
    }
    return absl::ErrnoToStatus(errno, "send");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadMessage(int fd, int64_t deadline_ns,
                                        std::string* buffer) {
  while (true) {
    size_t nul = buffer->find('\0');
    if (nul != std::string::npos) {
      std::string msg = buffer->substr(0, nul);
      buffer->erase(0, nul + 1);
      return msg;
    }
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer->append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      return absl::UnavailableError("connection closed");
    } else if (errno == EINTR) {
      continue;
    } else if (TimedOut(errno)) {
      if (NowNs() >= deadline_ns) {
        return absl::DeadlineExceededError("no answer from server");
      }
    } else {
      return absl::ErrnoToStatus(errno, "recv");
    }
  }
}

absl::Status Handshake(int fd, absl::string_view path, int64_t deadline_ns,
                       std::string* buffer) {
  std::string hello(path);
  hello.push_back('\0');
  size_t sent;
  absl::Status s = SendAll(fd, hello, deadline_ns, &sent);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> msg = ReadMessage(fd, deadline_ns, buffer);
  if (!msg.ok()) return msg.status();
  if (*msg != "OK") return absl::UnavailableError(*msg);
  return absl::OkStatus();
}

absl::Status Goodbye(int fd, int64_t deadline_ns, std::string* buffer) {
  if (shutdown(fd, SHUT_WR) != 0) return absl::ErrnoToStatus(errno, "shutdown");
  while (true) {
    absl::StatusOr<std::string> msg = ReadMessage(fd, deadline_ns, buffer);
    if (!msg.ok()) return msg.status();
    if (*msg == "BYE") return absl::OkStatus();
    if (*msg != "ROTATED") return absl::UnavailableError(*msg);
  }
}

int64_t Quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(q * sorted.size()));
  if (i > 0) --i;
  if (i >= sorted.size()) i = sorted.size() - 1;
  return sorted[i];
}

}  // namespace offlog::bench
