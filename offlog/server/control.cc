#include "offlog/server/control.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "offlog/server/server_log.h"
#include "offlog/server/writer_stats.h"

namespace offlog {
namespace {

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kTimerId = ~uint64_t{0};
constexpr uint64_t kExpiryId = kTimerId - 1;
// Out of descriptors, the listener is not watched for this long (the
// acceptor's own listener pauses likewise): accept() would fail again at
// once, and a readable listener would make the event loop spin.
constexpr int64_t kAcceptPauseMs = 100;
// At most this many control connections are open at once (the oldest is
// dropped for a new one), and none for longer than kConnectionMs: a timer
// set to the earliest deadline wakes the control server, whether or not
// anything else happens on the control socket. So a client that connects
// and never speaks costs nothing lasting.
constexpr size_t kMaxConnections = 8;
constexpr int64_t kConnectionMs = 5000;
constexpr size_t kMaxRequest = 256;

const char* StateName(WriterProc::State state) {
  switch (state) {
    case WriterProc::State::kStarting:
      return "starting";
    case WriterProc::State::kIdle:
      return "idle";
    case WriterProc::State::kBusy:
      return "busy";
    case WriterProc::State::kClosing:
      return "closing";
    case WriterProc::State::kRetiring:
      return "retiring";
  }
  return "unknown";
}

WriterSnapshot SnapshotOf(const WriterProc& w, uint64_t queued, int64_t now,
                          int64_t stall_ms) {
  const WriterStats& st = *w.stats.get();
  WriterSnapshot s;
  s.pid = w.pid;
  s.state = StateName(w.state);
  s.path = EscapeForLog(w.path);
  s.clients = w.clients;
  s.bytes_written = st.bytes_written.load() - w.base.bytes_written;
  s.records_written = st.records_written.load() - w.base.records_written;
  s.write_errors = st.write_errors.load() - w.base.write_errors;
  s.queued_bytes = queued;
  int64_t last = st.last_write_ms.load();
  s.last_write_unix_ms = last == w.base.last_write_ms ? 0 : last;
  int64_t since = st.busy_since_ms.load();
  s.busy_ms = since == 0 ? 0 : std::max<int64_t>(0, now - since);
  s.stalled = since != 0 && s.busy_ms >= stall_ms;
  return s;
}

// The peer's uid; an error when it cannot be told, and then the
// connection is refused (never taken for root's).
absl::StatusOr<uid_t> PeerUid(int fd) {
  ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::ErrnoToStatus(errno, "SO_PEERCRED");
  }
  if (len != sizeof(cred)) return absl::InternalError("SO_PEERCRED: short");
  return cred.uid;
}

bool OutOfDescriptors(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void SetInterest(int epoll, int fd, uint64_t id, uint32_t events) {
  epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = id;
  if (epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev) != 0) {
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
  }
}

}  // namespace

ServerSnapshot BuildSnapshot(const WriterPool& pool, AcceptorSnapshot acceptor,
                             int64_t started_ms,
                             const std::function<uint64_t(uint64_t)>& queued,
                             int64_t stall_ms) {
  int64_t now = MonotonicMs();
  ServerSnapshot s;
  AcceptorSnapshot& a = s.acceptor;
  a = acceptor;
  a.pid = getpid();
  a.uptime_ms = now - started_ms;
  a.rotate_check_interval_ms = stall_ms;
  a.writers_busy = a.writers_idle = 0;
  for (const auto& [id, w] : pool.writers()) {
    if (w->state == WriterProc::State::kStarting) continue;
    if (w->state == WriterProc::State::kIdle) {
      ++a.writers_idle;
    } else {
      ++a.writers_busy;
    }
    s.writers.push_back(SnapshotOf(*w, queued(id), now, stall_ms));
  }
  std::sort(s.writers.begin(), s.writers.end(),
            [](const WriterSnapshot& x, const WriterSnapshot& y) {
              return std::tie(x.path, x.pid) < std::tie(y.path, y.pid);
            });
  return s;
}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(
    Listener listener, Handlers handlers) {
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return absl::ErrnoToStatus(errno, "epoll_create1");
  UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  UniqueFd expiry(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer || !expiry) return absl::ErrnoToStatus(errno, "timerfd_create");
  SetInterest(epoll.get(), listener.fd.get(), kListenerId, EPOLLIN);
  SetInterest(epoll.get(), timer.get(), kTimerId, EPOLLIN);
  SetInterest(epoll.get(), expiry.get(), kExpiryId, EPOLLIN);
  return std::unique_ptr<ControlServer>(
      new ControlServer(std::move(listener), std::move(handlers),
                        std::move(epoll), std::move(timer), std::move(expiry)));
}

ControlServer::ControlServer(Listener listener, Handlers handlers,
                             UniqueFd epoll, UniqueFd timer, UniqueFd expiry)
    : listener_(std::move(listener)),
      handlers_(std::move(handlers)),
      epoll_(std::move(epoll)),
      timer_(std::move(timer)),
      expiry_(std::move(expiry)) {}

ControlServer::~ControlServer() { RemoveSocketFile(listener_); }

void ControlServer::OnReady() {
  epoll_event events[16];
  int n = epoll_wait(epoll_.get(), events, 16, 0);
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kListenerId) {
      Accept();
    } else if (events[i].data.u64 == kTimerId) {
      ResumeAccepting();
    } else if (events[i].data.u64 == kExpiryId) {
      uint64_t expirations;
      if (read(expiry_.get(), &expirations, sizeof(expirations)) < 0) {
        continue;  // EAGAIN: already read.
      }
    } else {
      OnConnection(events[i].data.u64);
    }
  }
  ExpireConnections();
  ArmExpiry();
}

void ControlServer::Accept() {
  while (true) {
    UniqueFd fd(accept4(listener_.fd.get(), nullptr, nullptr,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (OutOfDescriptors(errno)) PauseAccepting(errno);
      return;  // EAGAIN, or a connection that died in the backlog.
    }
    // The socket file is owner-only; this also holds should its mode be
    // loosened by hand.
    absl::StatusOr<uid_t> uid = PeerUid(fd.get());
    if (!uid.ok()) {
      LogWarning("Control connection refused: %s", uid.status().ToString());
      continue;
    }
    if (*uid != geteuid() && *uid != 0) {
      LogWarning("Control connection from uid %d refused", *uid);
      continue;
    }
    if (connections_.size() >= kMaxConnections) {
      auto oldest = std::min_element(
          connections_.begin(), connections_.end(),
          [](const auto& x, const auto& y) { return x.first < y.first; });
      connections_.erase(oldest);
    }
    uint64_t id = next_id_++;
    SetInterest(epoll_.get(), fd.get(), id, EPOLLIN);
    Connection& c = connections_[id];
    c.fd = std::move(fd);
    c.deadline_ms = MonotonicMs() + kConnectionMs;
  }
}

void ControlServer::PauseAccepting(int err) {
  LogWarning("Control socket: accept: %s; pausing for %d ms", strerror(err),
             kAcceptPauseMs);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.fd.get(), nullptr);
  itimerspec t = {};
  t.it_value.tv_sec = kAcceptPauseMs / 1000;
  t.it_value.tv_nsec = kAcceptPauseMs % 1000 * 1000000;
  timerfd_settime(timer_.get(), 0, &t, nullptr);
}

void ControlServer::ResumeAccepting() {
  uint64_t expirations;
  if (read(timer_.get(), &expirations, sizeof(expirations)) < 0) return;
  SetInterest(epoll_.get(), listener_.fd.get(), kListenerId, EPOLLIN);
}

void ControlServer::OnConnection(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = it->second;
  if (c.answer.empty()) {
    char buf[kMaxRequest];
    ssize_t n = recv(c.fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) {
      connections_.erase(it);
      return;
    }
    c.request.append(buf, n);
    size_t nl = c.request.find('\n');
    bool complete = nl != std::string::npos || n == 0;
    if (!complete && c.request.size() < kMaxRequest) return;
    c.answer = Answer(c.request.substr(0, nl));
    shutdown(c.fd.get(), SHUT_RD);
    SetInterest(epoll_.get(), c.fd.get(), id, EPOLLOUT);
  }
  if (Flush(c)) connections_.erase(it);
}

std::string ControlServer::Answer(absl::string_view request) {
  request = absl::StripAsciiWhitespace(request);
  if (request == kControlStatus) {
    return absl::StrCat("ok\n", SerializeSnapshot(handlers_.status()));
  }
  if (request == kControlReopen) {
    int n = handlers_.reopen();
    LogInfo("Control: reopening files");
    return absl::StrCat("ok\nreopening ", n, " writers\n");
  }
  return absl::StrCat("error: unknown request '",
                      EscapeForLog(request.substr(0, 64)), "'\n");
}

bool ControlServer::Flush(Connection& c) {
  while (c.sent < c.answer.size()) {
    ssize_t n = send(c.fd.get(), c.answer.data() + c.sent,
                     c.answer.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return false;
    if (n < 0) return true;  // The client left; nothing more to do.
    c.sent += n;
  }
  return true;
}

void ControlServer::ExpireConnections() {
  int64_t now = MonotonicMs();
  absl::erase_if(connections_, [now](const auto& entry) {
    return entry.second.deadline_ms <= now;
  });
}

void ControlServer::ArmExpiry() {
  itimerspec t = {};  // All zero: disarmed.
  if (!connections_.empty()) {
    int64_t first =
        std::min_element(connections_.begin(), connections_.end(),
                         [](const auto& x, const auto& y) {
                           return x.second.deadline_ms < y.second.deadline_ms;
                         })
            ->second.deadline_ms;
    t.it_value.tv_sec = first / 1000;
    t.it_value.tv_nsec = first % 1000 * 1000000;
  }
  // MonotonicMs() reads CLOCK_MONOTONIC, the timer's clock.
  timerfd_settime(expiry_.get(), TFD_TIMER_ABSTIME, &t, nullptr);
}

}  // namespace offlog
