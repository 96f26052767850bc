#include "offlog/server/acceptor.h"

#include <errno.h>
#include <sched.h>
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
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "offlog/common/protocol.h"
#include "offlog/common/pyerror.h"
#include "offlog/server/async_log.h"
#include "offlog/server/bounds.h"
#include "offlog/server/channel.h"
#include "offlog/server/control.h"
#include "offlog/server/crash_limiter.h"
#include "offlog/server/handshake_table.h"
#include "offlog/server/pool.h"
#include "offlog/server/refusals.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

// epoll keys: the kind of descriptor in the top byte, an id below it.
enum Kind : uint64_t {
  kListener = 1,
  kSignal,
  kWriter,
  kPending,
  kControl,
  kSpawner
};
constexpr uint64_t Key(Kind kind, uint64_t id) { return (kind << 56) | id; }
constexpr Kind KindOf(uint64_t key) { return static_cast<Kind>(key >> 56); }
constexpr uint64_t IdOf(uint64_t key) { return key & ((1ull << 56) - 1); }

constexpr int kAcceptBatch = 64;
constexpr int kAcceptPauseMs = 100;
constexpr int kStallCheckMs = 500;
constexpr int kRetryMs = 50;  // Channel sends after ETOOMANYREFS/ENOBUFS.
// A writer this long inside one open() or write(), or this long without
// answering an assignment, is not responding (WriterUnresponsive).
constexpr int64_t kStuckMs = 200;
constexpr int64_t kUnresponsiveMs = 1000;
// Writer exits seen before the spawner named the pid. At most
// WriterPool::kMaxStarting writers have no known pid at any time, so none of
// their exits is forgotten.
constexpr size_t kMaxUnknownExits = 64;
// How long the acceptor keeps to the spared CPUs after the last writer
// started (KeepToSpareCpusWhileWritersStart): a writer's first open
// follows its start by a few milliseconds.
constexpr int64_t kKeepToSpareLingerMs = 200;
static_assert(kMaxUnknownExits >= 4 * WriterPool::kMaxStarting);
constexpr uid_t kUnknownUid = static_cast<uid_t>(-1);

constexpr absl::string_view kErrWriterCrashed =
    "OSError: offlog writer for this file crashed repeatedly";
constexpr absl::string_view kErrHandshakeTimeout =
    "TimeoutError: no path received before the handshake timeout";
constexpr absl::string_view kErrNoWriter =
    "OSError: offlog server cannot start a writer process";
constexpr absl::string_view kErrNotResponding =
    "OSError: offlog writer for this file is not responding";

// A connection with a path: waiting for its writer, or handed to one. The
// acceptor keeps this duplicate of the socket until the writer reports the
// client done, to re-pass it should the writer die.
struct Handed {
  UniqueFd fd;
  uint64_t writer = 0;  // The writer's pool id; 0 while waiting.
  bool taken = false;   // The writer said kTaken.
  bool told_ok = false;
  bool told_rotated = false;
  bool write_cut = false;  // Its writer died inside a call (kAssignWriteCut).
  bool as_client = false;
  std::string key;
  std::string raw_path;
  std::string path;
  PeerCredentials cred;
};

// Clients waiting here for the writer of one key: it is busy with as many
// assignments as it may have, or stuck, or not started yet.
struct Waiting {
  std::deque<uint64_t> ids;
  absl::flat_hash_map<uid_t, int> per_uid;
  bool wants_writer = false;  // Listed in Acceptor::unbound_keys_.
};

void SendFramed(int fd, absl::string_view msg) {
  std::string framed = FrameMessage(msg);
  send(fd, framed.data(), framed.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

class Acceptor {
 public:
  Acceptor(const ServerOptions& options, Admission admission, Listener listener,
           Listener control)
      : options_(options),
        bounds_(DeriveBounds(options)),
        listener_(std::move(listener)),
        control_listener_(std::move(control)),
        admission_(std::move(admission)),
        handshakes_(options.handshake_timeout_ms),
        pool_(WriterConfigFor(options, admission_), options.prefork,
              bounds_.max_writers) {
    started_ms_ = MonotonicMs();
  }
  ~Acceptor() { SetLogSink(nullptr); }

  int Run();

 private:
  // Start-up and the loop.
  absl::Status SetUp();
  // Starts watching `fd`, which is not watched yet.
  void Watch(int fd, uint64_t key, uint32_t events = EPOLLIN);
  // Changes what a watched `fd` is watched for, when it differs from
  // `*watched` (one epoll_ctl() saved per turn and per send otherwise).
  void Rewatch(int fd, uint64_t key, uint32_t events, uint32_t* watched);
  void WatchWriters(const std::vector<WriterProc*>& writers);
  void Dispatch(const epoll_event& ev);
  int NextTimeoutMs() const;
  void OnTimers();
  void EndTurn();
  void KeepToSpareCpusWhileWritersStart();

  // Connections and handshakes.
  void OnListenerReadable();
  bool AdmitConnection(int fd, uid_t uid);
  void PauseAccepting();
  void OnPendingReadable(uint64_t id);
  void RefusePending(uint64_t id, absl::string_view msg);
  void ErasePending(uint64_t id);
  void ExpireHandshakes();
  void HandOff(uint64_t id);
  void RefuseHanded(uint64_t id, absl::string_view msg);
  void EraseHanded(uint64_t id);

  // Routing clients to writers.
  void Enqueue(uint64_t id);
  bool WriterUnresponsive(const std::string& key);
  static bool WriterInTheKernel(const WriterProc& w);
  void Pump(const std::string& key);
  void PumpAll();
  WriterProc* BindWriter(const std::string& key, Waiting& q);
  void PopWaiting(Waiting& q);
  void GiveWritersToWaitingKeys();
  void SendAssign(WriterProc* w, uint64_t id);

  // Writers' messages and lives.
  void OnWriterEvent(uint64_t id, uint32_t events);
  void HandleWriterMessage(WriterProc* w, ChannelMessage msg);
  void OnTaken(WriterProc* w, uint64_t id, uint32_t flags);
  void OnWriterLog(const WriterProc* w, const ChannelMessage& msg);
  void OnClientDone(WriterProc* w, uint64_t id);
  void OnClosed(WriterProc* w);
  void MaybeClose(WriterProc* w);
  void Tell(WriterProc* w, MsgType type);
  void FlushChannel(WriterProc* w);
  void FlushChannels();
  void OnSpawnerEvent(uint32_t events);
  void OnSignal();
  void ReapChildren();
  void OnWriterExit(uint64_t id, int status);
  void RepassOrphans(const WriterProc& dead, bool give_up);
  void CheckStalls();

  int ReopenAll();
  absl::Status SetUpControl();
  std::optional<JournalSink> OpenJournal() const;
  ServerSnapshot Snapshot();
  static void LogStartPriority(const StartPriority& p, int asked);
  void BeginShutdown();
  void HandWaitingToWriters();
  void AbandonWriters();
  uint64_t UnreadBytes(uint64_t writer) const;

  static WriterConfig WriterConfigFor(const ServerOptions& options,
                                      const Admission& admission) {
    return WriterConfig{
        .rotate_check_interval_ms = options.rotate_check_interval_ms,
        .peek_reads = options.peek_reads,
        .atomic_lines = options.atomic_lines,
        .line_hold_ms = options.line_hold_ms,
        .coalesce_us = options.coalesce_us,
        .allowed_dirs = admission.allowed_dirs(),
        .starting_nice_delta = options.writer_start_nice,
        .starting_spare_cpus = options.writer_start_spare_cpus,
        .priority = {}};  // The pool's to decide (priority.h).
  }

  ServerOptions options_;
  Bounds bounds_;
  Listener listener_;
  Listener control_listener_;  // Moved into control_ by SetUp.
  std::unique_ptr<ControlServer> control_;
  AcceptorSnapshot counts_;  // The counters; the rest is filled in by Snapshot.
  int64_t started_ms_ = 0;
  Admission admission_;
  HandshakeTable handshakes_;
  Refusals refused_;  // Refused at accept(), told why, closing soon.
  WriterPool pool_;
  std::unique_ptr<AsyncLog> log_;
  UniqueFd epoll_;
  UniqueFd signal_fd_;
  uint64_t next_client_id_ = 1;
  absl::flat_hash_map<uint64_t, Handed> handed_;
  absl::flat_hash_map<std::string, Waiting> waiting_;
  // Keys waiting for a writer to be bound to them, oldest first (an entry
  // whose Waiting is gone or no longer wants a writer is skipped).
  std::deque<std::string> unbound_keys_;
  int keys_wanting_writer_ = 0;
  // Connections (handshaking, waiting or handed) per uid, and in all.
  absl::flat_hash_map<uid_t, int> connections_of_;
  int connections_ = 0;
  int in_flight_ = 0;  // Assignments sent and not yet kTaken, all writers.
  absl::flat_hash_set<uint64_t> channels_to_flush_;
  std::deque<std::pair<pid_t, int>> unknown_exits_;
  CrashLimiter crashes_;
  int64_t accept_paused_until_ms_ = 0;
  uint32_t spawner_events_ = EPOLLIN;  // What its channel is watched for.
  // On the spared CPUs only, until then (KeepToSpareCpusWhileWritersStart).
  bool kept_to_spare_ = false;
  int64_t keep_to_spare_until_ms_ = 0;
  int64_t next_stall_check_ms_ = 0;
  int64_t next_retry_ms_ = 0;
  bool shutting_down_ = false;
  bool abandoned_ = false;
  int64_t shutdown_deadline_ms_ = 0;
};

absl::Status Acceptor::SetUp() {
  // First, while this process is small, single-threaded and holds no
  // client: the spawner is a fork of it (spawner.h).
  // Signals are blocked before any thread starts, so that all of them
  // arrive at the signalfd (the spawner unblocks them for writers).
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGHUP}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  absl::StatusOr<int> spawner = pool_.Start();
  if (!spawner.ok()) return spawner.status();
  log_ = std::make_unique<AsyncLog>(OpenJournal());
  SetLogSink(log_.get());
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return absl::ErrnoToStatus(errno, "epoll_create1");
  signal_fd_.Reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return absl::ErrnoToStatus(errno, "signalfd");
  Watch(signal_fd_.get(), Key(kSignal, 0));
  Watch(*spawner, Key(kSpawner, 0));
  Watch(listener_.fd.get(), Key(kListener, 0));
  WatchWriters(pool_.RequestWriters(0));
  return SetUpControl();
}

// The journal, when --log-target asks for it (or, with auto, when systemd
// connected stderr to it); else nullopt (stdout and stderr).
std::optional<JournalSink> Acceptor::OpenJournal() const {
  bool want = options_.log_target == "journal" ||
              (options_.log_target == "auto" && StderrIsJournal());
  if (!want) return std::nullopt;
  absl::StatusOr<JournalSink> sink = JournalSink::Open();
  if (!sink.ok()) {
    WriteRecord(Level::kWarning,
                absl::StrFormat("Cannot log to the journal: %s",
                                sink.status().ToString()));
    return std::nullopt;
  }
  return *std::move(sink);
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
  counts_.handshakes = handshakes_.size();
  counts_.clients = handed_.size();
  counts_.waiting = 0;
  for (const auto& [key, q] : waiting_) counts_.waiting += q.ids.size();
  counts_.waiting_files = waiting_.size();
  counts_.crash_history = crashes_.size();
  counts_.writers_starting = pool_.StartingCount();
  counts_.log_dropped = log_ ? log_->dropped() : 0;
  counts_.shutting_down = shutting_down_;
  return BuildSnapshot(
      pool_, counts_, started_ms_,
      [this](uint64_t id) { return UnreadBytes(id); },
      options_.rotate_check_interval_ms);
}

void Acceptor::Watch(int fd, uint64_t key, uint32_t events) {
  epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = key;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void Acceptor::Rewatch(int fd, uint64_t key, uint32_t events,
                       uint32_t* watched) {
  if (*watched == events) return;
  epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = key;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) == 0) *watched = events;
}

void Acceptor::WatchWriters(const std::vector<WriterProc*>& writers) {
  for (WriterProc* w : writers) {
    Watch(w->channel.fd(), Key(kWriter, w->id));
    if (w->channel.queued() > 0) channels_to_flush_.insert(w->id);
  }
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
  LogInfo("Bounds: %s", bounds_.ToString());
  LogStartPriority(pool_.priority(), options_.writer_start_nice);
  if (options_.notify) {
    if (absl::Status s = NotifySystemd("READY=1"); !s.ok()) {
      LogWarning("sd_notify failed: %s", s.ToString());
    }
  }
  while (!(shutting_down_ && pool_.writers().empty()) && !abandoned_) {
    epoll_event events[128];
    log_->Flush();  // What this turn logged; one wake-up of the log thread.
    int n = epoll_wait(epoll_.get(), events, 128, NextTimeoutMs());
    if (n < 0 && errno != EINTR) {
      LogError("epoll_wait: %s", strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i]);
    OnTimers();
    EndTurn();
  }
  LogInfo("Exit");
  return 0;
}

// After every wake-up: refill the idle pool in the background (the spawner
// answers later), and send what the channels' outboxes hold.
void Acceptor::EndTurn() {
  if (!shutting_down_) {
    WatchWriters(pool_.RequestWriters(keys_wanting_writer_));
  }
  KeepToSpareCpusWhileWritersStart();
  pool_.FlushSpawner();
  Rewatch(pool_.spawner_fd(), Key(kSpawner, 0),
          EPOLLIN | (pool_.SpawnerWantsWrite() ? uint32_t{EPOLLOUT} : 0u),
          &spawner_events_);
  FlushChannels();
}

// While writers start, the acceptor keeps to the CPUs they start off
// (priority.h), so that a file creation, which the kernel does not preempt,
// never stands between it and a CPU; it takes all of its CPUs back
// kKeepToSpareLingerMs after the last writer started, so that an idle
// server's acceptor runs wherever a CPU is free. (Kept there for good, it
// answered an idle client's connect at p99 1.35x slower.)
void Acceptor::KeepToSpareCpusWhileWritersStart() {
  const StartPriority& p = pool_.priority();
  if (!p.narrowed) return;
  int64_t now = MonotonicMs();
  if (pool_.StartingCount() > 0) {
    keep_to_spare_until_ms_ = now + kKeepToSpareLingerMs;
  }
  bool want = now < keep_to_spare_until_ms_;
  if (want == kept_to_spare_) return;
  cpu_set_t cpus = p.serving_cpus;
  if (want) CPU_XOR(&cpus, &p.serving_cpus, &p.starting_cpus);
  // The log thread goes along: beside the starting writers, it would take
  // their CPU as they take the acceptor's.
  if (pid_t log_thread = log_->thread_id(); log_thread != 0) {
    sched_setaffinity(log_thread, sizeof(cpus), &cpus);
  }
  // Not retried when it fails (the cpuset changed under offlogd): the
  // acceptor then stays where it is rather than spin on its timer.
  sched_setaffinity(0, sizeof(cpus), &cpus);
  kept_to_spare_ = want;
}

void Acceptor::Dispatch(const epoll_event& ev) {
  uint64_t key = ev.data.u64;
  switch (KindOf(key)) {
    case kListener:
      OnListenerReadable();
      break;
    case kSignal:
      OnSignal();
      break;
    case kWriter:
      OnWriterEvent(IdOf(key), ev.events);
      break;
    case kPending:
      OnPendingReadable(IdOf(key));
      break;
    case kControl:
      control_->OnReady();
      break;
    case kSpawner:
      OnSpawnerEvent(ev.events);
      break;
  }
}

int Acceptor::NextTimeoutMs() const {
  int64_t next = next_stall_check_ms_;
  if (std::optional<int64_t> due = handshakes_.NextDeadlineMs()) {
    next = std::min(next, *due);
  }
  if (accept_paused_until_ms_) next = std::min(next, accept_paused_until_ms_);
  if (std::optional<int64_t> due = refused_.NextDueMs()) {
    next = std::min(next, *due);
  }
  if (next_retry_ms_) next = std::min(next, next_retry_ms_);
  if (shutting_down_) next = std::min(next, shutdown_deadline_ms_);
  if (kept_to_spare_) next = std::min(next, keep_to_spare_until_ms_);
  return static_cast<int>(std::clamp<int64_t>(next - MonotonicMs(), 0, 1000));
}

void Acceptor::LogStartPriority(const StartPriority& p, int asked) {
  if (p.lowered) {
    LogInfo(
        "Writers start at nice %d, the acceptor's %d once their file is "
        "open",
        p.starting_nice, p.serving_nice);
  } else if (asked > 0 && p.serving_nice >= 19) {
    LogInfo("Writers start at the acceptor's nice value 19, the lowest");
  } else if (asked > 0) {
    LogInfo(
        "Writers start at the acceptor's nice value %d: with neither "
        "RLIMIT_NICE nor CAP_SYS_NICE they could not go back up",
        p.serving_nice);
  } else {
    LogInfo("Writers start at the acceptor's nice value %d", p.serving_nice);
  }
  if (p.narrowed) {
    LogInfo(
        "Writers start on %d of the %d CPUs, on all once their file is open; "
        "the acceptor keeps to the other %d while writers start",
        CPU_COUNT(&p.starting_cpus), CPU_COUNT(&p.serving_cpus),
        CPU_COUNT(&p.serving_cpus) - CPU_COUNT(&p.starting_cpus));
  }
}

void Acceptor::OnTimers() {
  int64_t now = MonotonicMs();
  ExpireHandshakes();
  refused_.CloseDue(now);
  if (accept_paused_until_ms_ && now >= accept_paused_until_ms_) {
    accept_paused_until_ms_ = 0;
    if (!shutting_down_) Watch(listener_.fd.get(), Key(kListener, 0));
  }
  if (now >= next_stall_check_ms_) {
    next_stall_check_ms_ = now + kStallCheckMs;
    CheckStalls();
  }
  if (next_retry_ms_ && now >= next_retry_ms_) {
    next_retry_ms_ = 0;
    for (const auto& [id, w] : pool_.writers()) {
      if (w->channel.needs_retry()) channels_to_flush_.insert(id);
    }
  }
  if (shutting_down_ && now >= shutdown_deadline_ms_) AbandonWriters();
}

// ---- Connections and handshakes ----

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
    PendingHandshake p;
    p.fd.Reset(fd);
    p.id = next_client_id_++;
    p.cred = ReadPeerCredentials(fd);
    uid_t uid = p.cred.ok() ? p.cred->uid : kUnknownUid;
    LogInfo({"", p.id, p.cred.ok() ? std::optional<uid_t>(uid) : std::nullopt},
            "Client %d connected", p.id);
    if (!AdmitConnection(fd, uid)) {
      refused_.Hold(std::move(p.fd), uid, MonotonicMs());
      continue;
    }
    uint64_t id = p.id;
    handshakes_.Add(std::move(p), MonotonicMs());
    // A client sends its path right after connecting, so it is usually
    // here already: reading it now saves a wake-up (and two epoll_ctl()s)
    // per client. Only a connection still without its path is watched.
    OnPendingReadable(id);
    if (PendingHandshake* still = handshakes_.Find(id)) {
      Watch(still->fd.get(), Key(kPending, id));
      still->watched = true;
    }
  }
}

// Counts a new connection of `uid`, or refuses it (EMFILE, as the original
// server's clients know it) when that uid holds its share already or the
// acceptor has no descriptors to spare.
bool Acceptor::AdmitConnection(int fd, uid_t uid) {
  int& mine = connections_of_[uid];
  if (mine < bounds_.max_connections_per_uid &&
      connections_ < bounds_.max_connections) {
    ++mine;
    ++connections_;
    return true;
  }
  if (mine == 0) connections_of_.erase(uid);
  ++counts_.refused_limit;
  ++counts_.refused;
  LogWarning(
      "Client of uid %d refused: it holds %d connections (at most %d "
      "per uid, %d in all)",
      uid, mine, bounds_.max_connections_per_uid, bounds_.max_connections);
  SendFramed(fd, FormatOsError(EMFILE));
  return false;
}

// Out of descriptors: stop watching the listener for a moment rather than
// spin on a readable listener that accept() keeps refusing. The oldest
// handshake is shed to make room, since it is the likeliest to be stuck.
void Acceptor::PauseAccepting() {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.fd.get(), nullptr);
  accept_paused_until_ms_ = MonotonicMs() + kAcceptPauseMs;
  if (std::optional<uint64_t> id = handshakes_.PopOldest()) {
    LogWarning("Client %d shed: out of file descriptors", *id);
    RefusePending(*id, FormatOsError(EMFILE));
  }
}

void Acceptor::OnPendingReadable(uint64_t id) {
  PendingHandshake* found = handshakes_.Find(id);
  if (found == nullptr) return;
  PendingHandshake& p = *found;
  char buf[kPathMax + 2];
  // Peek first, then consume exactly up to the NUL: the bytes behind it are
  // file data and must stay in the socket for the writer.
  ssize_t n = recv(p.fd.get(), buf, sizeof(buf), MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    // Like the original, a client that shuts down before its path's NUL is
    // told BYE.
    if (n == 0) SendFramed(p.fd.get(), kMsgBye);
    LogInfo("Client %d disconnected", id);
    ErasePending(id);
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
  if (std::string refusal = admission_.Check(id, p.cred, p.parser.path());
      !refusal.empty()) {
    RefusePending(id, refusal);
    return;
  }
  HandOff(id);
}

void Acceptor::RefusePending(uint64_t id, absl::string_view msg) {
  PendingHandshake* p = handshakes_.Find(id);
  if (p == nullptr) return;
  ++counts_.refused;
  SendFramed(p->fd.get(), msg);
  LogInfo("Closing connection with client %d", id);
  ErasePending(id);
}

// Forgets a pending connection and closes it (which also removes it from
// epoll), releasing its uid's count.
void Acceptor::ErasePending(uint64_t id) {
  std::optional<PendingHandshake> p = handshakes_.Take(id);
  if (!p) return;
  uid_t uid = p->cred.ok() ? p->cred->uid : kUnknownUid;
  p.reset();
  if (--connections_of_[uid] <= 0) connections_of_.erase(uid);
  --connections_;
}

void Acceptor::ExpireHandshakes() {
  int64_t now = MonotonicMs();
  while (std::optional<uint64_t> id = handshakes_.PopExpired(now)) {
    LogWarning("Client %d error, no path within %d ms", *id,
               options_.handshake_timeout_ms);
    RefusePending(*id, kErrHandshakeTimeout);
  }
}

// A complete, admitted handshake becomes a Handed connection (same uid
// count) and joins its key's queue.
void Acceptor::HandOff(uint64_t id) {
  PendingHandshake p = *handshakes_.Take(id);
  if (p.watched) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
  Handed& h = handed_[id];
  h.fd = std::move(p.fd);
  // The writer opens exactly what the client sent; clients share a writer
  // only by spellings that provably open the same file (FileKeyPath).
  h.raw_path = p.parser.path();
  h.path = FileKeyPath(h.raw_path);
  h.cred = *std::move(p.cred);  // Admission::Check refuses unknown ones.
  h.as_client = admission_.OpensAsClient(h.cred);
  h.key = WriterKey(h.path, h.as_client ? CredentialsKey(h.cred) : "");
  Enqueue(id);
}

void Acceptor::RefuseHanded(uint64_t id, absl::string_view msg) {
  auto it = handed_.find(id);
  if (it == handed_.end()) return;
  ++counts_.refused;
  SendFramed(it->second.fd.get(), msg);
  shutdown(it->second.fd.get(), SHUT_RDWR);
  LogInfo("Closing connection with client %d", id);
  EraseHanded(id);
}

void Acceptor::EraseHanded(uint64_t id) {
  auto it = handed_.find(id);
  if (it == handed_.end()) return;
  uid_t uid = it->second.cred.uid;
  handed_.erase(it);
  if (--connections_of_[uid] <= 0) connections_of_.erase(uid);
  --connections_;
}

// ---- Routing clients to writers ----

// Queues a handed client for its key's writer, or refuses it when the
// queue, or its uid's half of it, is full: that writer is not taking
// clients (stuck in open() or write()), and waiting longer helps no one.
void Acceptor::Enqueue(uint64_t id) {
  Handed& h = handed_[id];
  Waiting& q = waiting_[h.key];
  int& mine = q.per_uid[h.cred.uid];
  int cap = bounds_.max_waiting_per_file;
  bool full = static_cast<int>(q.ids.size()) >= cap || mine >= cap / 2;
  if (full && WriterUnresponsive(h.key)) {
    if (mine == 0) q.per_uid.erase(h.cred.uid);
    std::string key = h.key;
    if (q.ids.empty()) waiting_.erase(key);
    ++counts_.refused_busy;
    LogWarning("Client %d refused: %d clients wait for the writer of %s", id,
               q.ids.size(), EscapeForLog(h.path));
    RefuseHanded(id, kErrNotResponding);
    return;
  }
  ++mine;
  q.ids.push_back(id);
  Pump(h.key);
}

// Whether the writer of `key` is not taking clients: inside one open() or
// write() for kStuckMs, or holding assignments it has not answered for
// kUnresponsiveMs. A writer that is merely busy (a burst of clients) is
// not: its queue may then grow past --max-waiting-per-file, bounded by its
// clients' per-uid connection bounds, since it is draining it.
bool Acceptor::WriterUnresponsive(const std::string& key) {
  WriterProc* w = pool_.Bound(key);
  if (w == nullptr) return false;  // Being started: the spawner is at work.
  if (WriterInTheKernel(*w)) return true;
  return w->in_flight > 0 &&
         MonotonicMs() - w->last_taken_ms >= kUnresponsiveMs;
}

// Inside one open() or write() for kStuckMs: a file system that does not
// answer (it may never).
bool Acceptor::WriterInTheKernel(const WriterProc& w) {
  int64_t since = w.stats.get()->busy_since_ms.load();
  return since != 0 && MonotonicMs() - since >= kStuckMs;
}

// Hands waiting clients of `key` to its writer while it has room for
// assignments; binds a writer to the key first if it has none.
void Acceptor::Pump(const std::string& key) {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return;
  Waiting& q = it->second;
  WriterProc* w = pool_.Bound(key);
  if (w == nullptr && !shutting_down_) w = BindWriter(key, q);
  while (w != nullptr && !q.ids.empty() &&
         w->in_flight < kMaxInFlightPerWriter &&
         in_flight_ < bounds_.max_in_flight) {
    uint64_t id = q.ids.front();
    PopWaiting(q);
    SendAssign(w, id);
  }
  if (q.ids.empty()) {
    if (q.wants_writer) --keys_wanting_writer_;
    waiting_.erase(it);
  }
}

void Acceptor::PopWaiting(Waiting& q) {
  uint64_t id = q.ids.front();
  q.ids.pop_front();
  auto h = handed_.find(id);
  if (h == handed_.end()) return;
  auto n = q.per_uid.find(h->second.cred.uid);
  if (n != q.per_uid.end() && --n->second <= 0) q.per_uid.erase(n);
}

// An idle writer for `key`, counted against the uid of its first waiting
// client; null when none is idle (the key is then listed for the next
// writer the spawner starts). Clients whose uid has as many writers as it
// may are refused.
WriterProc* Acceptor::BindWriter(const std::string& key, Waiting& q) {
  while (!q.ids.empty()) {
    const Handed& h = handed_[q.ids.front()];
    if (pool_.WritersOf(h.cred.uid) < bounds_.max_writers_per_uid) break;
    uint64_t id = q.ids.front();
    PopWaiting(q);
    ++counts_.refused_limit;
    LogWarning("Client %d refused: uid %d has %d files open (at most %d)", id,
               h.cred.uid, pool_.WritersOf(h.cred.uid),
               bounds_.max_writers_per_uid);
    RefuseHanded(id, FormatOsError(EMFILE));
  }
  if (q.ids.empty()) return nullptr;
  const Handed& h = handed_[q.ids.front()];
  WriterProc* w = pool_.BindIdle(key, h.path, h.cred.uid, h.as_client);
  if (w == nullptr && !pool_.CanStartWriters()) {
    // No spawner and no writer starting: none will come.
    while (!q.ids.empty()) {
      uint64_t id = q.ids.front();
      PopWaiting(q);
      RefuseHanded(id, kErrNoWriter);
    }
    return nullptr;
  }
  if (w == nullptr && !q.wants_writer) {
    q.wants_writer = true;
    ++keys_wanting_writer_;
    unbound_keys_.push_back(key);
  } else if (w != nullptr && q.wants_writer) {
    q.wants_writer = false;
    --keys_wanting_writer_;
  }
  return w;
}

// Idle writers go to the keys that have waited longest for one.
void Acceptor::GiveWritersToWaitingKeys() {
  while (pool_.IdleCount() > 0 && !unbound_keys_.empty() && !shutting_down_) {
    std::string key = std::move(unbound_keys_.front());
    unbound_keys_.pop_front();
    auto it = waiting_.find(key);
    if (it == waiting_.end() || !it->second.wants_writer) continue;
    Pump(key);
  }
}

void Acceptor::SendAssign(WriterProc* w, uint64_t id) {
  Handed& h = handed_[id];
  h.writer = w->id;
  h.taken = false;
  if (w->in_flight == 0) w->last_taken_ms = MonotonicMs();
  ++w->clients;
  ++w->in_flight;
  ++in_flight_;
  ChannelMessage msg;
  msg.type = MsgType::kAssign;
  msg.client_id = id;
  SetCredentials(h.cred, &msg);
  msg.raw_path = h.raw_path;
  msg.path = h.path;
  msg.flags = (h.as_client ? kAssignAsClient : 0) |
              (h.told_ok ? kAssignToldOk : 0) |
              (h.told_rotated ? kAssignToldRotated : 0) |
              (h.write_cut ? kAssignWriteCut : 0);
  // A failed send means the writer is gone: its clients, this one too, are
  // re-passed when it is reaped.
  if (absl::Status s = w->channel.Send(msg, h.fd.get()); !s.ok()) {
    LogWarning("Writer %d: %s", w->pid, s.ToString());
  }
  if (w->channel.queued() > 0) channels_to_flush_.insert(w->id);
}

// ---- Writers' messages and lives ----

void Acceptor::OnWriterEvent(uint64_t id, uint32_t events) {
  WriterProc* w = pool_.Find(id);
  if (w == nullptr) return;
  if (events & EPOLLOUT) channels_to_flush_.insert(id);
  while (true) {
    absl::StatusOr<std::optional<ChannelMessage>> msg = w->channel.Receive();
    if (!msg.ok()) {
      // The writer is gone; stop watching. Its exit is handled when reaped.
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w->channel.fd(), nullptr);
      return;
    }
    if (!msg->has_value()) return;
    HandleWriterMessage(w, **std::move(msg));
  }
}

void Acceptor::HandleWriterMessage(WriterProc* w, ChannelMessage msg) {
  switch (msg.type) {
    case MsgType::kTaken:
      OnTaken(w, msg.client_id, msg.flags);
      break;
    case MsgType::kToldRotated:
      if (auto it = handed_.find(msg.client_id);
          it != handed_.end() && it->second.writer == w->id) {
        it->second.told_rotated = true;
      }
      break;
    case MsgType::kClientDone:
      OnClientDone(w, msg.client_id);
      break;
    case MsgType::kClosed:
      OnClosed(w);
      break;
    case MsgType::kLog:
      OnWriterLog(w, msg);
      break;
    default:
      LogWarning("Writer %d sent an unexpected message (%d)", w->pid,
                 static_cast<int>(msg.type));
      break;
  }
}

// A writer may run as a client's user: its level is capped at ERROR, and
// its text was escaped by the writer (a forged record could only repeat what
// that user may put in the log anyway through a path). A record names a
// client (the journal's OFFLOG_CLIENT_ID and OFFLOG_CLIENT_UID) only if that
// client is this writer's, with the uid the acceptor read from the socket:
// a writer cannot pin its records on another user's client.
void Acceptor::OnWriterLog(const WriterProc* w, const ChannelMessage& msg) {
  uint32_t level = std::min<uint32_t>(msg.flags & kLogLevelMask,
                                      static_cast<uint32_t>(Level::kError));
  LogFields fields;
  fields.path = msg.raw_path;
  if (auto it = handed_.find(msg.client_id);
      it != handed_.end() && it->second.writer == w->id) {
    fields.client_id = msg.client_id;
    fields.client_uid = it->second.cred.uid;
  }
  LogRecord(static_cast<Level>(level), msg.path, fields);
}

// Only a writer a client was assigned to may answer for it; anything else
// is ignored, whatever a writer (possibly running as a client's user) says.
void Acceptor::OnTaken(WriterProc* w, uint64_t id, uint32_t flags) {
  auto it = handed_.find(id);
  if (it == handed_.end() || it->second.writer != w->id || it->second.taken) {
    return;
  }
  it->second.taken = true;
  if (flags & kTakenOk) {
    it->second.told_ok = true;
    pool_.OnConfirmed(w);
  }
  w->last_taken_ms = MonotonicMs();
  --w->in_flight;
  --in_flight_;
  if (w->state == WriterProc::State::kBusy) Pump(w->key);
  if (in_flight_ + 1 == bounds_.max_in_flight) PumpAll();
}

// After the limit on descriptors in flight held clients back: any key may
// have clients its writer could take now.
void Acceptor::PumpAll() {
  std::vector<std::string> keys;
  for (const auto& [key, q] : waiting_) keys.push_back(key);
  for (const std::string& key : keys) Pump(key);
}

void Acceptor::OnClientDone(WriterProc* w, uint64_t id) {
  auto it = handed_.find(id);
  if (it == handed_.end() || it->second.writer != w->id) return;
  if (!it->second.taken) {
    --w->in_flight;
    --in_flight_;
  }
  EraseHanded(id);
  if (w->clients > 0) w->clients--;
  MaybeClose(w);
}

void Acceptor::MaybeClose(WriterProc* w) {
  if (w->clients != 0 || w->state != WriterProc::State::kBusy ||
      shutting_down_ || waiting_.contains(w->key)) {
    return;
  }
  pool_.StartClosing(w);
  Tell(w, MsgType::kClose);
}

void Acceptor::OnClosed(WriterProc* w) {
  if (w->state != WriterProc::State::kClosing) return;
  if (pool_.FinishClosing(w) || shutting_down_) {
    Tell(w, MsgType::kShutdown);
  } else {
    GiveWritersToWaitingKeys();
  }
}

// Control messages are few per writer (one kClose or kShutdown at a time,
// and a kReopen is not queued behind a full outbox), so with at most
// kMaxInFlightPerWriter assignments the outbox stays small.
void Acceptor::Tell(WriterProc* w, MsgType type) {
  if (type == MsgType::kReopen && w->channel.queued() > kMaxInFlightPerWriter) {
    LogWarning("Writer %d for %s is not reading its channel; reopen skipped",
               w->pid, EscapeForLog(w->path));
    return;
  }
  ChannelMessage msg;
  msg.type = type;
  if (absl::Status s = w->channel.Send(msg); !s.ok()) {
    LogWarning("Writer %d: %s", w->pid, s.ToString());
  }
  if (w->channel.queued() > 0) channels_to_flush_.insert(w->id);
}

void Acceptor::FlushChannel(WriterProc* w) {
  if (absl::Status s = w->channel.Flush(); !s.ok()) {
    LogWarning("Writer %d: %s", w->pid, s.ToString());
  }
  if (w->channel.needs_retry() && next_retry_ms_ == 0) {
    next_retry_ms_ = MonotonicMs() + kRetryMs;
  }
  uint32_t events = EPOLLIN;
  if (w->channel.queued() > 0 && !w->channel.needs_retry()) events |= EPOLLOUT;
  Rewatch(w->channel.fd(), Key(kWriter, w->id), events, &w->epoll_events);
}

void Acceptor::FlushChannels() {
  if (channels_to_flush_.empty()) return;
  absl::flat_hash_set<uint64_t> ids = std::move(channels_to_flush_);
  channels_to_flush_.clear();
  for (uint64_t id : ids) {
    if (WriterProc* w = pool_.Find(id)) FlushChannel(w);
  }
}

void Acceptor::OnSpawnerEvent(uint32_t events) {
  if (events & EPOLLOUT) pool_.FlushSpawner();
  std::vector<uint64_t> failed;
  if (!pool_.OnSpawnerReadable(&failed)) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, pool_.spawner_fd(), nullptr);
  }
  // Writers that exited before their pid was known.
  std::deque<std::pair<pid_t, int>> unknown = std::move(unknown_exits_);
  unknown_exits_.clear();
  for (auto [pid, status] : unknown) {
    if (WriterProc* w = pool_.FindPid(pid)) {
      OnWriterExit(w->id, status);
    } else {
      unknown_exits_.emplace_back(pid, status);
    }
  }
  GiveWritersToWaitingKeys();
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

// Never blocks: a writer stuck in the kernel (a hung mount) is reaped
// whenever it finally exits; its clients were answered already.
void Acceptor::ReapChildren() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == pool_.spawner_pid()) {
      LogError("The writer spawner exited (status %d)", status);
      continue;
    }
    if (WriterProc* w = pool_.FindPid(pid)) {
      OnWriterExit(w->id, status);
      continue;
    }
    unknown_exits_.emplace_back(pid, status);
    if (unknown_exits_.size() > kMaxUnknownExits) unknown_exits_.pop_front();
  }
}

void Acceptor::OnWriterExit(uint64_t id, int status) {
  std::unique_ptr<WriterProc> w = pool_.Remove(id);
  if (w == nullptr) return;
  channels_to_flush_.erase(id);
  // Messages it sent before dying still count (clients it finished).
  while (true) {
    absl::StatusOr<std::optional<ChannelMessage>> msg = w->channel.Receive();
    if (!msg.ok() || !msg->has_value()) break;
    HandleWriterMessage(w.get(), **std::move(msg));
  }
  bool clean = w->state == WriterProc::State::kRetiring || shutting_down_;
  if (clean && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
      w->clients == 0) {
    return;
  }
  std::string how =
      WIFSIGNALED(status)
          ? absl::StrFormat("killed by signal %d", WTERMSIG(status))
          : absl::StrFormat("exit status %d", WEXITSTATUS(status));
  LogError({w->path, 0, {}}, "Writer %d for %s died (%s)", w->pid,
           w->path.empty() ? "(idle)" : EscapeForLog(w->path), how);
  bool give_up = !w->key.empty() && crashes_.RecordCrash(w->key, MonotonicMs());
  if (give_up) {
    LogError(
        "Writers for %s crashed %d times within %d s; giving up its "
        "clients",
        EscapeForLog(w->path), CrashLimiter::kMaxCrashes,
        CrashLimiter::kWindowMs / 1000);
  }
  RepassOrphans(*w, give_up);
}

// The clients of a writer that died go back to the front of their key's
// queue, in arrival order, keeping what they were told already; a fresh
// writer takes them on where their sockets stand.
void Acceptor::RepassOrphans(const WriterProc& dead, bool give_up) {
  std::vector<uint64_t> orphans;
  for (auto& [id, h] : handed_) {
    if (h.writer == dead.id) orphans.push_back(id);
  }
  std::sort(orphans.begin(), orphans.end());
  const WriterStats* stats = dead.stats.get();
  // Only a writer that died inside open() or write() can have left part of
  // a line; one that died between calls left the file as it wrote it (a
  // line that --line-hold-ms let out unfinished included).
  const bool died_in_call =
      stats != nullptr && stats->busy_since_ms.load() != 0;
  for (uint64_t id : orphans) {
    Handed& h = handed_[id];
    if (!h.taken) --in_flight_;
    // Told OK, though the report died with the writer.
    if (stats != nullptr && stats->WasToldOk(id)) h.told_ok = true;
    h.write_cut = died_in_call;
    h.writer = 0;
    h.taken = false;
  }
  if (give_up || shutting_down_) {
    for (uint64_t id : orphans) {
      RefuseHanded(id, give_up ? kErrWriterCrashed : kErrServerExited);
    }
    return;
  }
  if (orphans.empty()) return;
  const std::string key = handed_[orphans.front()].key;
  Waiting& q = waiting_[key];
  for (auto it = orphans.rbegin(); it != orphans.rend(); ++it) {
    q.ids.push_front(*it);
    ++q.per_uid[handed_[*it].cred.uid];
  }
  Pump(key);
}

void Acceptor::CheckStalls() {
  int64_t now = MonotonicMs();
  int64_t threshold = options_.rotate_check_interval_ms;
  for (const auto& [id, w] : pool_.writers()) {
    if (w->pid == 0) continue;
    int64_t since = w->stats.get()->busy_since_ms.load();
    bool stalled = since != 0 && now - since >= threshold;
    if (stalled && !w->stall_logged) {
      LogWarning({w->path, 0, {}},
                 "Writer %d for %s is stalled: in open()/write() for %d ms",
                 w->pid, EscapeForLog(w->path), now - since);
      w->stall_logged = true;
    } else if (!stalled && w->stall_logged) {
      LogInfo("Writer %d for %s is no longer stalled", w->pid,
              EscapeForLog(w->path));
      w->stall_logged = false;
    }
  }
}

int Acceptor::ReopenAll() {
  int n = 0;
  for (const auto& [id, w] : pool_.writers()) {
    if (w->state != WriterProc::State::kBusy) continue;
    Tell(w.get(), MsgType::kReopen);
    ++n;
  }
  return n;
}

void Acceptor::BeginShutdown() {
  if (shutting_down_) return;
  // A handshake whose path is here already is a client like any other
  // (what it sent behind its path must not be lost); the rest are refused.
  for (uint64_t id : handshakes_.Ids()) OnPendingReadable(id);
  shutting_down_ = true;
  shutdown_deadline_ms_ = MonotonicMs() + options_.shutdown_timeout_ms;
  LogInfo("Received signal, shutting down");
  if (options_.notify) (void)NotifySystemd("STOPPING=1");
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.fd.get(), nullptr);
  RemoveSocketFile(listener_);
  listener_.fd.Reset();
  for (uint64_t id : handshakes_.Ids()) RefusePending(id, kErrServerExited);
  HandWaitingToWriters();
  for (const auto& [id, w] : pool_.writers()) {
    Tell(w.get(), MsgType::kShutdown);
  }
}

// At shutdown, clients waiting for their writer go to it all the same,
// beyond its bound on assignments in flight (not beyond the acceptor's,
// which bounds the descriptors its outboxes may hold): it writes what they
// sent behind their path and tells them the server exits. Clients of a
// writer stuck in the kernel (it would be abandoned at the deadline with
// them), of a file with no writer and no idle one to take it, or beyond
// the acceptor's bound, are refused at once: they were never told OK, and
// no writer starts now.
void Acceptor::HandWaitingToWriters() {
  for (auto& [key, q] : waiting_) {
    WriterProc* w = pool_.Bound(key);
    if (w == nullptr) {
      w = BindWriter(key, q);
    } else if (WriterInTheKernel(*w)) {
      w = nullptr;
    }
    while (!q.ids.empty()) {
      uint64_t id = q.ids.front();
      PopWaiting(q);
      if (w != nullptr && in_flight_ < bounds_.max_in_flight) {
        SendAssign(w, id);
      } else {
        RefuseHanded(id, kErrServerExited);
      }
    }
  }
  waiting_.clear();
  unbound_keys_.clear();
  keys_wanting_writer_ = 0;
}

uint64_t Acceptor::UnreadBytes(uint64_t writer) const {
  uint64_t total = 0;
  for (const auto& [id, h] : handed_) {
    int n = 0;
    if (h.writer == writer && ioctl(h.fd.get(), FIONREAD, &n) == 0) total += n;
  }
  return total;
}

// Writers still busy after --shutdown-timeout-ms are stuck in a file system
// that does not answer. They are killed, and the acceptor exits without
// waiting for them: one in uninterruptible sleep (a hard NFS mount) may take
// any time to die, and offlogd must not take that time with it.
void Acceptor::AbandonWriters() {
  for (const auto& [id, w] : pool_.writers()) {
    if (w->pid == 0) continue;
    LogError({w->path, 0, {}},
             "Writer %d for %s did not finish within %d ms; abandoning it "
             "with %d bytes unwritten",
             w->pid, w->path.empty() ? "(idle)" : EscapeForLog(w->path),
             options_.shutdown_timeout_ms, UnreadBytes(id));
    kill(w->pid, SIGKILL);
  }
  abandoned_ = true;
}

}  // namespace

int RunAcceptor(const ServerOptions& options, Admission admission,
                Listener listener, Listener control) {
  Acceptor acceptor(options, std::move(admission), std::move(listener),
                    std::move(control));
  return acceptor.Run();
}

}  // namespace offlog
