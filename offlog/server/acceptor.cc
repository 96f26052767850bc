#include "offlog/server/acceptor.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "offlog/common/protocol.h"
#include "offlog/common/pyerror.h"
#include "offlog/server/admission.h"
#include "offlog/server/channel.h"
#include "offlog/server/control.h"
#include "offlog/server/pool.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

// epoll keys: the kind of descriptor in the top byte, an id below it.
enum Kind : uint64_t { kListener = 1, kSignal, kWriter, kPending, kControl };
constexpr uint64_t Key(Kind kind, uint64_t id) { return (kind << 56) | id; }
constexpr Kind KindOf(uint64_t key) { return static_cast<Kind>(key >> 56); }
constexpr uint64_t IdOf(uint64_t key) { return key & ((1ull << 56) - 1); }

constexpr int kAcceptBatch = 64;
constexpr int kAcceptPauseMs = 100;
constexpr int kStallCheckMs = 500;
// A writer that dies this many times within kCrashWindowMs on one path is
// not replaced again for that path.
constexpr int kMaxCrashes = 3;
constexpr int64_t kCrashWindowMs = 60000;
constexpr absl::string_view kErrWriterCrashed =
    "OSError: offlog writer for this file crashed repeatedly";
constexpr absl::string_view kErrHandshakeTimeout =
    "TimeoutError: no path received before the handshake timeout";
constexpr absl::string_view kErrNoWriter =
    "OSError: offlog server cannot start a writer process";

// A connection whose path has not fully arrived yet.
struct Pending {
  UniqueFd fd;
  uint64_t id = 0;
  absl::StatusOr<PeerCredentials> cred;
  HandshakeParser parser;
};

// A connection handed to a writer. The acceptor keeps this duplicate of the
// socket until the writer reports the client done, to re-pass it should the
// writer die.
struct Handed {
  UniqueFd fd;
  pid_t writer = 0;
  std::string raw_path;
  std::string path;
  PeerCredentials cred;
};

void SendFramed(int fd, absl::string_view msg) {
  std::string framed = FrameMessage(msg);
  send(fd, framed.data(), framed.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

class Acceptor {
 public:
  Acceptor(const ServerOptions& options, Listener listener, Listener control)
      : options_(options),
        listener_(std::move(listener)),
        control_listener_(std::move(control)),
        admission_(Admission::FromOptions(options).value_or(Admission())),
        pool_(WriterConfigFor(options, admission_), options.prefork) {
    counts_.started_ms = MonotonicMs();
  }

  int Run();

 private:
  absl::Status SetUp();
  void Watch(int fd, uint64_t key);
  void WatchWriters(const std::vector<WriterProc*>& writers);
  void Dispatch(uint64_t key);
  int NextTimeoutMs() const;
  void OnTimers();

  void OnListenerReadable();
  void PauseAccepting();
  void OnPendingReadable(uint64_t id);
  void RefusePending(uint64_t id, absl::string_view msg);
  void ExpireHandshakes();
  void HandOff(uint64_t id);
  void Assign(uint64_t id, Handed& h);
  void RefuseHanded(uint64_t id, absl::string_view msg);

  void OnWriterReadable(pid_t pid);
  void OnClientDone(WriterProc* w, uint64_t client_id);
  void OnSignal();
  void ReapChildren();
  void OnWriterExit(pid_t pid, int status);
  bool CrashedTooOften(const std::string& path);
  void CheckStalls();

  // Sends a message without payload to a writer. A failure means the writer
  // is dying; that is dealt with when it is reaped.
  void Tell(WriterProc* w, MsgType type);
  int ReopenAll();
  absl::Status SetUpControl();
  ServerSnapshot Snapshot();
  void BeginShutdown();
  void AbandonWriters();
  uint64_t UnreadBytes(pid_t writer) const;

  static WriterConfig WriterConfigFor(const ServerOptions& options,
                                      const Admission& admission) {
    return WriterConfig{
        .rotate_check_interval_ms = options.rotate_check_interval_ms,
        .peek_reads = options.peek_reads,
        .atomic_lines = options.atomic_lines,
        .line_hold_ms = options.line_hold_ms,
        .coalesce_us = options.coalesce_us,
        .allowed_dirs = admission.allowed_dirs()};
  }

  ServerOptions options_;
  Listener listener_;
  Listener control_listener_;  // Moved into control_ by SetUp.
  std::unique_ptr<ControlServer> control_;
  AcceptorCounts counts_;
  // main() has checked that the options build an Admission.
  Admission admission_;
  WriterPool pool_;
  UniqueFd epoll_;
  UniqueFd signal_fd_;
  uint64_t next_client_id_ = 1;
  absl::flat_hash_map<uint64_t, Pending> pending_;
  // Handshake deadlines in accept order; all use the same timeout, so the
  // front is always the earliest. Entries of finished handshakes are
  // skipped when they reach the front.
  std::deque<std::pair<int64_t, uint64_t>> deadlines_;
  absl::flat_hash_map<uint64_t, Handed> handed_;
  absl::flat_hash_map<std::string, std::deque<int64_t>> crashes_;
  int64_t accept_paused_until_ms_ = 0;
  int64_t next_stall_check_ms_ = 0;
  bool shutting_down_ = false;
  int64_t shutdown_deadline_ms_ = 0;
};

absl::Status Acceptor::SetUp() {
  // First, while this process is small and holds no client: the spawner
  // is a fork of it (spawner.h).
  if (absl::Status s = pool_.Start(); !s.ok()) return s;
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return absl::ErrnoToStatus(errno, "epoll_create1");
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGHUP}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_.Reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return absl::ErrnoToStatus(errno, "signalfd");
  Watch(signal_fd_.get(), Key(kSignal, 0));
  Watch(listener_.fd.get(), Key(kListener, 0));
  WatchWriters(pool_.Replenish());
  return SetUpControl();
}

absl::Status Acceptor::SetUpControl() {
  if (!control_listener_.fd) return absl::OkStatus();
  ControlServer::Handlers handlers = {[this] { return Snapshot(); },
                                      [this] { return ReopenAll(); }};
  absl::StatusOr<std::unique_ptr<ControlServer>> control =
      ControlServer::Create(std::move(control_listener_), std::move(handlers));
  if (!control.ok()) return control.status();
  control_ = *std::move(control);
  Watch(control_->fd(), Key(kControl, 0));
  return absl::OkStatus();
}

ServerSnapshot Acceptor::Snapshot() {
  counts_.handshakes = pending_.size();
  counts_.clients = handed_.size();
  counts_.shutting_down = shutting_down_;
  return BuildSnapshot(
      pool_, counts_, [this](pid_t pid) { return UnreadBytes(pid); },
      options_.rotate_check_interval_ms);
}

void Acceptor::Watch(int fd, uint64_t key) {
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = key;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void Acceptor::WatchWriters(const std::vector<WriterProc*>& writers) {
  for (WriterProc* w : writers) Watch(w->channel.get(), Key(kWriter, w->pid));
}

int Acceptor::Run() {
  if (absl::Status s = SetUp(); !s.ok()) {
    LogError("Cannot start: %s", s.ToString());
    return 1;
  }
  LogInfo("This is offlog server");
  LogInfo("Listening on socket %s", listener_.path.empty()
                                        ? std::string("(from systemd)")
                                        : listener_.path);
  if (options_.notify) {
    if (absl::Status s = NotifySystemd("READY=1"); !s.ok()) {
      LogWarning("sd_notify failed: %s", s.ToString());
    }
  }
  while (!(shutting_down_ && pool_.writers().empty())) {
    epoll_event events[128];
    int n = epoll_wait(epoll_.get(), events, 128, NextTimeoutMs());
    if (n < 0 && errno != EINTR) {
      LogError("epoll_wait: %s", strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64);
    OnTimers();
    // Refill the idle pool only once this turn's clients have their
    // writers: a client waiting for OK never waits for another's fork.
    if (!shutting_down_) WatchWriters(pool_.Replenish());
  }
  LogInfo("Exit");
  return 0;
}

void Acceptor::Dispatch(uint64_t key) {
  switch (KindOf(key)) {
    case kListener:
      OnListenerReadable();
      break;
    case kSignal:
      OnSignal();
      break;
    case kWriter:
      OnWriterReadable(static_cast<pid_t>(IdOf(key)));
      break;
    case kPending:
      OnPendingReadable(IdOf(key));
      break;
    case kControl:
      control_->OnReady();
      break;
  }
}

int Acceptor::NextTimeoutMs() const {
  int64_t next = next_stall_check_ms_;
  if (!deadlines_.empty()) next = std::min(next, deadlines_.front().first);
  if (accept_paused_until_ms_) next = std::min(next, accept_paused_until_ms_);
  if (shutting_down_) next = std::min(next, shutdown_deadline_ms_);
  return static_cast<int>(std::clamp<int64_t>(next - MonotonicMs(), 0, 1000));
}

void Acceptor::OnTimers() {
  int64_t now = MonotonicMs();
  ExpireHandshakes();
  if (accept_paused_until_ms_ && now >= accept_paused_until_ms_) {
    accept_paused_until_ms_ = 0;
    if (!shutting_down_) Watch(listener_.fd.get(), Key(kListener, 0));
  }
  if (now >= next_stall_check_ms_) {
    next_stall_check_ms_ = now + kStallCheckMs;
    CheckStalls();
  }
  if (shutting_down_ && now >= shutdown_deadline_ms_) AbandonWriters();
}

void Acceptor::OnListenerReadable() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = accept4(listener_.fd.get(), nullptr, nullptr,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        LogWarning("accept: %s; pausing for %d ms", strerror(errno),
                   kAcceptPauseMs);
        PauseAccepting();
      }
      return;  // EAGAIN, or a connection that died in the backlog.
    }
    ++counts_.accepted;
    Pending p;
    p.fd.Reset(fd);
    p.id = next_client_id_++;
    p.cred = ReadPeerCredentials(fd);
    LogInfo("Client %d connected", p.id);
    Watch(fd, Key(kPending, p.id));
    deadlines_.emplace_back(MonotonicMs() + options_.handshake_timeout_ms,
                            p.id);
    pending_[p.id] = std::move(p);
  }
}

// Out of descriptors: stop watching the listener for a moment rather than
// spin on a readable listener that accept() keeps refusing. The oldest
// handshake is shed to make room, since it is the likeliest to be stuck.
void Acceptor::PauseAccepting() {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.fd.get(), nullptr);
  accept_paused_until_ms_ = MonotonicMs() + kAcceptPauseMs;
  while (!deadlines_.empty()) {
    uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    if (pending_.contains(id)) {
      LogWarning("Client %d shed: out of file descriptors", id);
      RefusePending(id, FormatOsError(EMFILE));
      break;
    }
  }
}

void Acceptor::OnPendingReadable(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  char buf[kPathMax + 2];
  // Peek first, then consume exactly up to the NUL: the bytes behind it are
  // file data and must stay in the socket for the writer.
  ssize_t n = recv(p.fd.get(), buf, sizeof(buf), MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    LogInfo("Client %d disconnected", id);
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
    pending_.erase(it);
    return;
  }
  size_t take = p.parser.Feed(absl::string_view(buf, n));
  recv(p.fd.get(), buf, take, 0);
  switch (p.parser.state()) {
    case HandshakeParser::State::kNeedMore:
      return;
    case HandshakeParser::State::kTooLong:
      LogWarning("Client %d error, path too long", id);
      RefusePending(id, kErrPathTooLong);
      return;
    case HandshakeParser::State::kComplete:
      break;
  }
  if (absl::string_view err = ValidatePath(p.parser.path()); !err.empty()) {
    LogWarning("Client %d error, not an absolute path: %s", id,
               EscapeForLog(p.parser.path()));
    RefusePending(id, err);
    return;
  }
  if (std::string refusal = admission_.Check(id, p.cred, p.parser.path(),
                                             NormalizePath(p.parser.path()));
      !refusal.empty()) {
    RefusePending(id, refusal);
    return;
  }
  HandOff(id);
}

void Acceptor::RefusePending(uint64_t id, absl::string_view msg) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  ++counts_.refused;
  SendFramed(it->second.fd.get(), msg);
  LogInfo("Closing connection with client %d", id);
  pending_.erase(it);  // Closing the socket also removes it from epoll.
}

void Acceptor::ExpireHandshakes() {
  int64_t now = MonotonicMs();
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    if (!pending_.contains(id)) continue;
    LogWarning("Client %d error, no path within %d ms", id,
               options_.handshake_timeout_ms);
    RefusePending(id, kErrHandshakeTimeout);
  }
}

void Acceptor::HandOff(uint64_t id) {
  auto it = pending_.find(id);
  Pending p = std::move(it->second);
  pending_.erase(it);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
  Handed& h = handed_[id];
  h.fd = std::move(p.fd);
  h.raw_path = p.parser.path();
  h.path = NormalizePath(h.raw_path);
  h.cred = *std::move(p.cred);  // Admission::Check refuses unknown ones.
  Assign(id, h);
}

void Acceptor::Assign(uint64_t id, Handed& h) {
  bool as_client = admission_.OpensAsClient(h.cred);
  absl::StatusOr<WriterProc*> w =
      pool_.ForPath(h.path, as_client ? CredentialsKey(h.cred) : "", as_client);
  if (!w.ok()) {
    LogError("Client %d: %s", id, w.status().ToString());
    RefuseHanded(id, kErrNoWriter);
    return;
  }
  ChannelHeader header = {};
  header.type = MsgType::kAssign;
  header.client_id = id;
  header.pid = h.cred.pid;
  header.uid = h.cred.uid;
  header.gid = h.cred.gid;
  header.assign_flags = as_client ? kAssignAsClient : 0;
  absl::Status s = SendChannelMessage((*w)->channel.get(), header, h.raw_path,
                                      h.path, h.fd.get(), h.cred.groups);
  // A failed send means the writer just died: its exit is handled when it
  // is reaped, and this client is re-passed with its other clients then.
  h.writer = (*w)->pid;
  (*w)->clients++;
  if (!s.ok()) LogWarning("Writer %d: %s", (*w)->pid, s.ToString());
}

void Acceptor::RefuseHanded(uint64_t id, absl::string_view msg) {
  auto it = handed_.find(id);
  if (it == handed_.end()) return;
  ++counts_.refused;
  SendFramed(it->second.fd.get(), msg);
  shutdown(it->second.fd.get(), SHUT_RDWR);
  LogInfo("Closing connection with client %d", id);
  handed_.erase(it);
}

void Acceptor::OnWriterReadable(pid_t pid) {
  WriterProc* w = pool_.Find(pid);
  if (w == nullptr) return;
  absl::StatusOr<ChannelMessage> msg = RecvChannelMessage(w->channel.get());
  if (!msg.ok()) {
    // The writer is gone; stop watching. Its exit is handled when reaped.
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w->channel.get(), nullptr);
    return;
  }
  switch (msg->header.type) {
    case MsgType::kClientDone:
      OnClientDone(w, msg->header.client_id);
      break;
    case MsgType::kClosed:
      if (pool_.FinishClosing(w) || shutting_down_) {
        Tell(w, MsgType::kShutdown);
      }
      break;
    default:
      break;
  }
}

void Acceptor::OnClientDone(WriterProc* w, uint64_t client_id) {
  auto it = handed_.find(client_id);
  if (it == handed_.end() || it->second.writer != w->pid) return;
  handed_.erase(it);
  if (w->clients > 0) w->clients--;
  if (w->clients == 0 && w->state == WriterProc::State::kBusy &&
      !shutting_down_) {
    pool_.StartClosing(w);
    Tell(w, MsgType::kClose);
  }
}

void Acceptor::OnSignal() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    switch (info.ssi_signo) {
      case SIGCHLD:
        ReapChildren();
        break;
      case SIGINT:
      case SIGTERM:
        BeginShutdown();
        break;
      case SIGHUP:
        ReopenAll();
        LogInfo("Received SIGHUP, reopening files");
        break;
    }
  }
}

void Acceptor::ReapChildren() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) OnWriterExit(pid, status);
}

void Acceptor::OnWriterExit(pid_t pid, int status) {
  std::unique_ptr<WriterProc> w = pool_.Remove(pid);
  if (w == nullptr) return;
  // Messages it sent before dying still count (clients it finished).
  while (true) {
    absl::StatusOr<ChannelMessage> msg = RecvChannelMessage(w->channel.get());
    if (!msg.ok()) break;
    if (msg->header.type == MsgType::kClientDone) {
      handed_.erase(msg->header.client_id);
    }
  }
  bool clean = w->state == WriterProc::State::kRetiring || shutting_down_;
  if (clean && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string how =
      WIFSIGNALED(status)
          ? absl::StrFormat("killed by signal %d", WTERMSIG(status))
          : absl::StrFormat("exit status %d", WEXITSTATUS(status));
  LogError("Writer %d for %s died (%s)", pid,
           w->path.empty() ? "(idle)" : EscapeForLog(w->path), how);
  std::vector<uint64_t> orphans;
  for (auto& [id, h] : handed_) {
    if (h.writer == pid) orphans.push_back(id);
  }
  std::sort(orphans.begin(), orphans.end());  // Keep arrival order.
  bool give_up = !w->path.empty() && CrashedTooOften(w->key);
  for (uint64_t id : orphans) {
    if (give_up || shutting_down_) {
      RefuseHanded(id, give_up ? kErrWriterCrashed : kErrServerExited);
    } else {
      Assign(id, handed_[id]);
    }
  }
  if (!shutting_down_) WatchWriters(pool_.Replenish());
}

bool Acceptor::CrashedTooOften(const std::string& path) {
  int64_t now = MonotonicMs();
  std::deque<int64_t>& times = crashes_[path];
  times.push_back(now);
  while (!times.empty() && times.front() < now - kCrashWindowMs) {
    times.pop_front();
  }
  if (static_cast<int>(times.size()) < kMaxCrashes) return false;
  LogError("Writers for %s crashed %d times within %d s; giving up its clients",
           EscapeForLog(path), times.size(), kCrashWindowMs / 1000);
  crashes_.erase(path);
  return true;
}

void Acceptor::CheckStalls() {
  int64_t now = MonotonicMs();
  int64_t threshold = options_.rotate_check_interval_ms;
  for (const auto& [pid, w] : pool_.writers()) {
    int64_t since = w->stats.get()->busy_since_ms.load();
    bool stalled = since != 0 && now - since >= threshold;
    if (stalled && !w->stall_logged) {
      LogWarning("Writer %d for %s is stalled: in open()/write() for %d ms",
                 pid, EscapeForLog(w->path), now - since);
      w->stall_logged = true;
    } else if (!stalled && w->stall_logged) {
      LogInfo("Writer %d for %s is no longer stalled", pid,
              EscapeForLog(w->path));
      w->stall_logged = false;
    }
  }
}

void Acceptor::Tell(WriterProc* w, MsgType type) {
  ChannelHeader h = {};
  h.type = type;
  if (absl::Status s = SendChannelMessage(w->channel.get(), h); !s.ok()) {
    LogWarning("Writer %d: %s", w->pid, s.ToString());
  }
}

int Acceptor::ReopenAll() {
  for (const auto& [pid, w] : pool_.writers()) Tell(w.get(), MsgType::kReopen);
  return static_cast<int>(pool_.writers().size());
}

void Acceptor::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_deadline_ms_ = MonotonicMs() + options_.shutdown_timeout_ms;
  LogInfo("Received signal, shutting down");
  if (options_.notify) (void)NotifySystemd("STOPPING=1");
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.fd.get(), nullptr);
  RemoveSocketFile(listener_);
  listener_.fd.Reset();
  std::vector<uint64_t> ids;
  for (const auto& [id, p] : pending_) ids.push_back(id);
  for (uint64_t id : ids) RefusePending(id, kErrServerExited);
  for (const auto& [pid, w] : pool_.writers()) {
    Tell(w.get(), MsgType::kShutdown);
  }
}

uint64_t Acceptor::UnreadBytes(pid_t writer) const {
  uint64_t total = 0;
  for (const auto& [id, h] : handed_) {
    int n = 0;
    if (h.writer == writer && ioctl(h.fd.get(), FIONREAD, &n) == 0) total += n;
  }
  return total;
}

// Writers still busy after --shutdown-timeout-ms are stuck in a file system
// that does not answer; waiting longer would hold up every other shutdown
// step (and systemd), so they are killed, saying how much they leave.
void Acceptor::AbandonWriters() {
  for (const auto& [pid, w] : pool_.writers()) {
    LogError(
        "Writer %d for %s did not finish within %d ms; abandoning it "
        "with %d bytes unwritten",
        pid, EscapeForLog(w->path), options_.shutdown_timeout_ms,
        UnreadBytes(pid));
    kill(pid, SIGKILL);
  }
  std::vector<pid_t> pids;
  for (const auto& [pid, w] : pool_.writers()) pids.push_back(pid);
  for (pid_t pid : pids) {
    waitpid(pid, nullptr, 0);
    pool_.Remove(pid);
  }
}

}  // namespace

int RunAcceptor(const ServerOptions& options, Listener listener,
                Listener control) {
  Acceptor acceptor(options, std::move(listener), std::move(control));
  return acceptor.Run();
}

}  // namespace offlog
