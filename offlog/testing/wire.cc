#include "offlog/testing/wire.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "offlog/common/unix_socket.h"
#include "offlog/testing/wait_fd.h"

namespace offlog::bench {
namespace {

bool TimedOut(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

absl::Time MonotonicDeadline(int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) return absl::InfiniteFuture();
  return absl::Now() + absl::Nanoseconds(deadline_ns - NowNs());
}

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& socket_path,
                                     absl::Duration poll_interval,
                                     int64_t deadline_ns) {
  UnixConnectOptions options;
  options.send_timeout = poll_interval;
  options.receive_timeout = poll_interval;
  // EAGAIN: the listen backlog is full; the server has yet to accept.
  options.retry_full_backlog_until = MonotonicDeadline(deadline_ns);
  return offlog::ConnectUnix(socket_path, options);
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
  std::string one_byte;  // Without a buffer: read no byte past the NUL.
  std::string* got = buffer != nullptr ? buffer : &one_byte;
  while (true) {
    size_t nul = got->find('\0');
    if (nul != std::string::npos) {
      std::string msg = got->substr(0, nul);
      got->erase(0, nul + 1);
      return msg;
    }
    if (!::offlog::testing::WaitForEvents(fd, POLLIN,
                                          MonotonicDeadline(deadline_ns))) {
      return absl::DeadlineExceededError(
          absl::StrCat("no answer from server; got so far: ", *got));
    }
    char chunk[4096];
    ssize_t n = recv(fd, chunk, buffer != nullptr ? sizeof(chunk) : 1, 0);
    if (n > 0) {
      got->append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("connection closed after: ", *got));
    } else if (errno != EINTR && !TimedOut(errno)) {
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
