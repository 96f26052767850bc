#include "offlog/testing/test_peer.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "offlog/common/unix_socket.h"
#include "offlog/testing/wait_fd.h"

namespace offlog {
namespace client_test {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<TestListener> TestListener::Create(const std::string& path) {
  struct sockaddr_un addr;
  socklen_t addr_len = UnixAddress(path, &addr);
  if (addr_len == 0) return absl::InvalidArgumentError("socket path too long");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), addr_len) !=
      0) {
    return Errno("bind");
  }
  if (::listen(fd.get(), 16) != 0) return Errno("listen");
  return TestListener(std::move(fd), path);
}

absl::StatusOr<PeerConnection> TestListener::Accept(absl::Duration timeout) {
  if (!::offlog::testing::WaitForEvents(fd_.get(), POLLIN,
                                        absl::Now() + timeout)) {
    return absl::DeadlineExceededError("no client connected");
  }
  UniqueFd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.valid()) return Errno("accept");
  return PeerConnection(std::move(conn));
}

absl::StatusOr<bool> PeerConnection::ReadMore(absl::Time deadline) {
  if (!::offlog::testing::WaitForEvents(fd_.get(), POLLIN, deadline)) {
    return absl::DeadlineExceededError("peer: nothing arrived in time");
  }
  char buf[65536];
  ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n < 0) return Errno("recv");
  pending_.append(buf, static_cast<size_t>(n));
  return n > 0;
}

absl::StatusOr<std::string> PeerConnection::ReadHandshake(
    absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    size_t nul = pending_.find('\0');
    if (nul != std::string::npos) {
      std::string path = pending_.substr(0, nul);
      pending_.erase(0, nul + 1);
      return path;
    }
    absl::StatusOr<bool> more = ReadMore(deadline);
    if (!more.ok()) return more.status();
    if (!*more) return absl::UnavailableError("peer: EOF before handshake");
  }
}

absl::StatusOr<std::string> PeerConnection::ReadExactly(
    size_t n, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (pending_.size() < n) {
    absl::StatusOr<bool> more = ReadMore(deadline);
    if (!more.ok()) return more.status();
    if (!*more) return absl::UnavailableError("peer: EOF too early");
  }
  std::string data = pending_.substr(0, n);
  pending_.erase(0, n);
  return data;
}

absl::StatusOr<std::string> PeerConnection::ReadToEnd(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<bool> more = ReadMore(deadline);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return std::exchange(pending_, std::string());
}

bool PeerConnection::WaitReadable(absl::Duration timeout) const {
  return ::offlog::testing::WaitForEvents(fd_.get(), POLLIN,
                                          absl::Now() + timeout);
}

absl::Status PeerConnection::SendMessage(absl::string_view message) {
  std::string framed = absl::StrCat(message, absl::string_view("\0", 1));
  ssize_t n = ::send(fd_.get(), framed.data(), framed.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(framed.size())) return Errno("send");
  return absl::OkStatus();
}

absl::Status PeerConnection::SetReceiveBuffer(int bytes) {
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) !=
      0) {
    return Errno("setsockopt");
  }
  return absl::OkStatus();
}

void PeerTest::SetUp() {
  dir_.emplace();
  socket_path_ = dir_->path() + "/s.sock";
  absl::StatusOr<TestListener> listener = TestListener::Create(socket_path_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  listener_.emplace(std::move(*listener));
}

std::thread PeerTest::ServeOneClient(std::string* path, std::string* received) {
  return std::thread([this, path, received] {
    constexpr absl::Duration kLong = absl::Seconds(30);
    absl::StatusOr<PeerConnection> conn = listener_->Accept(kLong);
    ASSERT_TRUE(conn.ok()) << conn.status();
    absl::StatusOr<std::string> p = conn->ReadHandshake(kLong);
    ASSERT_TRUE(p.ok()) << p.status();
    *path = *p;
    ASSERT_TRUE(conn->SendMessage("OK").ok());
    absl::StatusOr<std::string> data = conn->ReadToEnd(kLong);
    ASSERT_TRUE(data.ok()) << data.status();
    *received = *data;
    ASSERT_TRUE(conn->SendMessage("BYE").ok());
  });
}

}  // namespace client_test
}  // namespace offlog
