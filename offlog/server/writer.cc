#include "offlog/server/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "offlog/common/protocol.h"
#include "offlog/common/pyerror.h"
#include "offlog/server/channel.h"
#include "offlog/server/confine.h"
#include "offlog/server/credentials.h"
#include "offlog/server/line_policy.h"
#include "offlog/server/read_buffer.h"
#include "offlog/server/server_log.h"
#include "offlog/server/target_file.h"

namespace offlog {
namespace {

constexpr uint64_t kChannelKey = 0;  // Client ids start at 1.
constexpr size_t kReadSize = 64 * 1024;
// A read buffer unused this long goes back to the kernel (read_buffer.h).
constexpr int64_t kReleaseReadBufferAfterMs = 1000;
// Reads per client per turn, so one busy client cannot starve the rest.
constexpr int kReadsPerTurn = 8;
// Turns that append less than this are followed by a pause (Coalesce()).
constexpr uint64_t kCoalesceBelowBytes = 16 * 1024;

// The newlines in `data`, eight bytes at a time: with 64 KiB records the
// byte loop this replaces took a quarter of the writer's CPU samples
// (issue 12, docs/PERFORMANCE.md).
uint64_t CountNewlines(absl::string_view data) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  const char* p = data.data();
  size_t n = data.size();
  uint64_t count = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    x ^= kOnes * '\n';  // Newlines become zero bytes.
    // 0x80 in each zero byte of x, 0 elsewhere (no carry crosses bytes).
    uint64_t zero = ~(((x & kLow7) + kLow7) | x | kLow7);
    count += ((zero >> 7) * kOnes) >> 56;
  }
  for (; n > 0; ++p, --n) count += *p == '\n';
  return count;
}

rlim_t CurrentFileSizeLimit() {
  rlimit rl;
  return getrlimit(RLIMIT_FSIZE, &rl) == 0 ? rl.rlim_cur : RLIM_INFINITY;
}

struct Client {
  UniqueFd fd;
  uint64_t id = 0;
  std::string raw_path;  // As the client sent it: quoted in its errors.
  bool told_ok = false;  // By this writer or, before a re-pass, another.
  bool told_rotated = false;
  bool confirmed = false;    // Told OK: counted among the file's clients.
  bool peer_closed = false;  // EPOLLRDHUP: nothing more will arrive.
  bool queued = false;       // In Writer::ready_.
  // With --atomic-lines: when the unfinished line now held back in the
  // socket was last added to (CLOCK_MONOTONIC ms), or 0 when none is held.
  int64_t partial_since_ms = 0;
};

// What one turn of reading a client left behind.
enum class Drained {
  kMore,  // Read budget used up with data still waiting: queue it again.
  kIdle,  // Nothing to read but (possibly) an unfinished line held back.
  kGone,  // The client was let go.
};

// Why a client is being let go; decides the log line and whether it is
// told BYE.
enum class Ending { kClientDone, kClientGone, kServerClosed };

// A writer's own log records travel to the acceptor over the channel
// (kLog), which writes them to the server log: a writer that may run as a
// client's user holds no descriptor of the log, and a slow log blocks no
// writer. At most kMaxQueuedLogs records wait in the channel's outbox;
// beyond that they are counted and the count is logged later.
constexpr size_t kMaxQueuedLogs = 256;

class Writer : public LogSink {
 public:
  Writer(UniqueFd channel, const WriterConfig& config, WriterStats* stats)
      : channel_(std::move(channel)),
        config_(config),
        stats_(stats),
        file_(config.allowed_dirs, &stats->busy_since_ms, &MonotonicMs),
        policy_(LinePolicy::Limits{.atomic_lines = config.atomic_lines,
                                   .hold_ms = config.line_hold_ms,
                                   .read_size = kReadSize,
                                   .file_size_limit = CurrentFileSizeLimit()}) {
  }

  int Run();
  void Write(Level level, absl::string_view message,
             const LogFields& fields) override;

 private:
  // Waits for the channel's and the clients' events (until the next timer
  // at most) and handles them; false if epoll fails.
  bool ProcessEvents();
  void OnChannelReadable();
  void OnChannelMessage(ChannelMessage msg);
  // Sends what the channel's outbox holds and watches for room if any is
  // left.
  void FlushChannel();
  void OnAssign(ChannelMessage msg);
  void Confirm(Client& c);
  void OnClose();
  void OnReopen();
  void BeginShutdown();
  void OnClientEvent(uint64_t id, uint32_t events);
  void Enqueue(Client& c);
  void ServeReadyClients();
  void FlushQuietClients();
  // After a turn that appended only a little, pauses briefly so that the
  // next turn finds more to append per system call.
  void Coalesce(uint64_t appended);
  Drained Drain(Client& c);
  Drained ReadOnce(Client& c);
  // How many of the `n` peeked bytes to append now (LinePolicy::Decide),
  // updating the client's held line.
  size_t BytesToAppend(Client& c, size_t n);
  // After a failed append: tells the client and lets it go.
  Drained FailWrite(Client& c, int err);
  void CountWritten(absl::string_view data);
  void EndClient(uint64_t id, Ending ending);
  // Sends one framed message without blocking; false if it did not fit.
  bool SendMessage(Client& c, absl::string_view msg);
  // Opens the client's path as the target; 0 or the errno.
  int OpenTarget(const Client& c);
  // Takes on the credentials a kAssign asks for (channel.h's
  // kAssignAsClient); false if this writer cannot serve that client.
  bool AdoptCredentials(const ChannelMessage& msg);
  // Appends `data`, or the whole lines of it that fit below RLIMIT_FSIZE
  // (LinePolicy::Fit); 0, the write's errno, or EFBIG if it was cut.
  int WriteAll(absl::string_view data);
  void ScheduleRotationCheck();
  bool RotationCheckDue() const;
  void CheckRotation();
  void TellRotated();
  int NextTimeoutMs() const;
  // Notes this turn's reads and gives the read buffer back once idle.
  void KeepReadBufferSmall();
  void Report(MsgType type, uint64_t client_id = 0, uint32_t flags = 0);
  void FlushBeforeExit();

  Channel channel_;
  WriterConfig config_;
  WriterStats* stats_;
  // Its path() is the target as the client whose open made it sent it
  // (rotation checks and reopens use it); empty when idle.
  TargetFile file_;
  LinePolicy policy_;
  UniqueFd epoll_;
  // Set once this process has dropped to a client's credentials (for good:
  // it serves only clients with the same key until it exits).
  std::string creds_key_;
  absl::flat_hash_map<uint64_t, Client> clients_;
  // Clients with data to read. Client sockets are edge-triggered (data left
  // in a socket on purpose, an unfinished line, must not wake us again), so
  // a client stays here until a read finds its socket drained.
  std::deque<uint64_t> ready_;
  ReadBuffer buf_{kReadSize, kReleaseReadBufferAfterMs};
  bool read_this_turn_ = false;
  int64_t next_rotation_check_ms_ = 0;
  bool shutting_down_ = false;
  bool channel_open_ = true;
  bool watching_channel_out_ = false;
  bool took_clients_ = false;  // This turn read a kAssign.
  // A client came from a writer that died: before the next append, end a
  // line that writer's last write() may have left cut short, so that the
  // lines written again do not run into it.
  bool end_torn_line_ = false;
  // Still at the CPU weight it started with (priority.h): until its first
  // file is open; the system calls to go back up are made once.
  bool starting_priority_ = true;
  uint64_t logs_dropped_ = 0;
};

int Writer::Run() {
  SetLogSink(this);
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kChannelKey;
  if (!epoll_ || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, channel_.fd(), &ev)) {
    return 1;
  }
  // The cycle: wait for events, serve the clients with data, then the
  // timers (held lines, rotation), report, and pause if the turn was small.
  while (!(shutting_down_ && clients_.empty())) {
    if (!ProcessEvents()) return 1;
    uint64_t before = stats_->bytes_written;
    ServeReadyClients();
    FlushQuietClients();
    if (RotationCheckDue()) CheckRotation();
    KeepReadBufferSmall();
    FlushChannel();
    // New clients are not kept waiting for a pause.
    if (!took_clients_) Coalesce(stats_->bytes_written - before);
    took_clients_ = false;
  }
  if (file_.is_open()) OnClose();
  FlushBeforeExit();
  return 0;
}

bool Writer::ProcessEvents() {
  epoll_event events[64];
  int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
  if (n < 0 && errno != EINTR) return false;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kChannelKey) {
      if (events[i].events & EPOLLIN) OnChannelReadable();
    } else {
      OnClientEvent(events[i].data.u64, events[i].events);
    }
  }
  return true;
}

void Writer::KeepReadBufferSmall() {
  int64_t now = MonotonicMs();
  if (read_this_turn_) buf_.MarkUsed(now);
  read_this_turn_ = false;
  buf_.ReleaseIfDue(now);
}

bool Writer::RotationCheckDue() const {
  return !file_.path().empty() && MonotonicMs() >= next_rotation_check_ms_;
}

int Writer::NextTimeoutMs() const {
  if (!ready_.empty()) return 0;
  int64_t next = -1;
  if (!file_.path().empty() && !shutting_down_) next = next_rotation_check_ms_;
  int64_t release = buf_.ReleaseDueMs();
  if (release >= 0 && (next < 0 || release < next)) next = release;
  for (const auto& [id, c] : clients_) {
    if (c.partial_since_ms == 0) continue;
    int64_t due = policy_.HoldDueMs(c.partial_since_ms);
    if (next < 0 || due < next) next = due;
  }
  if (next < 0) return -1;
  return static_cast<int>(std::max<int64_t>(0, next - MonotonicMs()));
}

void Writer::Report(MsgType type, uint64_t client_id, uint32_t flags) {
  if (!channel_open_) return;
  ChannelMessage msg;
  msg.type = type;
  msg.client_id = client_id;
  msg.flags = flags;
  if (!channel_.Send(msg).ok()) channel_open_ = false;
}

void Writer::Write(Level level, absl::string_view message,
                   const LogFields& fields) {
  if (!channel_open_) return;
  if (channel_.queued() >= kMaxQueuedLogs) {
    ++logs_dropped_;
    return;
  }
  ChannelMessage msg;
  msg.type = MsgType::kLog;
  msg.flags =
      static_cast<uint32_t>(level) | (fields.client_uid ? kLogHasUid : 0);
  msg.client_id = fields.client_id;
  msg.uid = fields.client_uid.value_or(0);
  msg.raw_path = fields.path;
  msg.path = logs_dropped_ == 0 ? std::string(message)
                                : absl::StrFormat(
                                      "%s (%d earlier log lines of writer %d "
                                      "dropped: the acceptor was not reading)",
                                      message, logs_dropped_, getpid());
  logs_dropped_ = 0;
  if (!channel_.Send(msg).ok()) channel_open_ = false;
}

void Writer::FlushChannel() {
  if (channel_open_ && channel_.queued() > 0 && !channel_.Flush().ok()) {
    channel_open_ = false;
  }
  bool want_out = channel_open_ && channel_.queued() > 0;
  if (want_out == watching_channel_out_) return;
  epoll_event ev = {};
  ev.events = EPOLLIN | (want_out ? uint32_t{EPOLLOUT} : 0u);
  ev.data.u64 = kChannelKey;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, channel_.fd(), &ev);
  watching_channel_out_ = want_out;
}

// Reports still queued when the writer is done (its last kClientDone, log
// lines) are worth a short wait: the acceptor reads its channels on every
// wake-up. A writer whose acceptor is gone or stuck leaves after 1 s.
void Writer::FlushBeforeExit() {
  int64_t deadline = MonotonicMs() + 1000;
  while (channel_open_ && channel_.queued() > 0 && MonotonicMs() < deadline) {
    pollfd p = {channel_.fd(), POLLOUT, 0};
    poll(&p, 1, 100);
    if (!channel_.Flush().ok()) return;
  }
}

void Writer::OnChannelReadable() {
  while (true) {
    absl::StatusOr<std::optional<ChannelMessage>> msg = channel_.Receive();
    if (!msg.ok()) {
      // The acceptor is gone. Finish what the clients have sent, then exit.
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, channel_.fd(), nullptr);
      channel_open_ = false;
      BeginShutdown();
      return;
    }
    if (!msg->has_value()) return;
    took_clients_ |= (*msg)->type == MsgType::kAssign;
    OnChannelMessage(**std::move(msg));
  }
}

void Writer::OnChannelMessage(ChannelMessage msg) {
  switch (msg.type) {
    case MsgType::kAssign:
      OnAssign(std::move(msg));
      break;
    case MsgType::kClose:
      OnClose();
      Report(MsgType::kClosed);
      break;
    case MsgType::kShutdown:
      BeginShutdown();
      break;
    case MsgType::kReopen:
      OnReopen();
      break;
    default:
      break;
  }
}

// Opens exactly what this client sent (clients share a writer only by
// spellings of the same file: FileKeyPath).
int Writer::OpenTarget(const Client& c) {
  if (int err = file_.Open(c.raw_path); err != 0) return err;
  ScheduleRotationCheck();
  return 0;
}

void Writer::ScheduleRotationCheck() {
  next_rotation_check_ms_ = MonotonicMs() + config_.rotate_check_interval_ms;
}

void Writer::OnAssign(ChannelMessage msg) {
  uint64_t id = msg.client_id;
  if (clients_.contains(id)) return;  // Never twice; the acceptor's bug.
  Client& c = clients_[id];
  c.fd = std::move(msg.fd);
  c.id = id;
  c.raw_path = std::move(msg.raw_path);
  c.told_ok = msg.flags & kAssignToldOk;
  c.told_rotated = msg.flags & kAssignToldRotated;
  end_torn_line_ |= (msg.flags & kAssignWriteCut) && config_.atomic_lines;
  stats_->clients = clients_.size();
  if (!c.fd) {
    Report(MsgType::kTaken, id);
    EndClient(id, Ending::kClientGone);
    return;
  }
  int flags = fcntl(c.fd.get(), F_GETFL);
  fcntl(c.fd.get(), F_SETFL, flags | O_NONBLOCK);
  if (!AdoptCredentials(msg)) {
    SendMessage(c, FormatOsError(EACCES, c.raw_path));
    Report(MsgType::kTaken, id);
    EndClient(id, Ending::kServerClosed);
    return;
  }
  if (!file_.is_open()) {
    if (int err = OpenTarget(c); err != 0) {
      std::string emsg = FormatOsError(err, c.raw_path);
      LogWarning({c.raw_path, id, {}}, "Client %d access denied for %s:\n%s",
                 id, EscapeForLog(c.raw_path), emsg);
      SendMessage(c, emsg);
      Report(MsgType::kTaken, id);
      EndClient(id, Ending::kServerClosed);
      return;
    }
    if (starting_priority_) {
      LeaveStartingPriority(config_.priority);
      starting_priority_ = false;
    }
  }
  Confirm(c);
}

// Tells an admitted client OK (once in its life), reports it taken, and
// starts serving it.
void Writer::Confirm(Client& c) {
  uint64_t id = c.id;
  c.confirmed = true;
  LogInfo({c.raw_path, id, {}}, "Client %d access confirmed for %s", id,
          EscapeForLog(file_.path()));
  LogInfo({c.raw_path, id, {}}, "New client %d (total: %d) for %s", id,
          clients_.size(), EscapeForLog(file_.path()));
  // A client re-passed from a writer that died was told OK already: a
  // second OK arriving with BYE in one read makes offlog 0.3.1's close()
  // fail. The report follows the send at once, so that a writer dying
  // between the two is the only way a client can hear OK twice.
  if (!c.told_ok) {
    if (!SendMessage(c, kMsgOk)) {
      // It cannot hear us: it closed without SHUT_WR, or refuses to read.
      // Take nothing more from it, but still write what it sent before,
      // which stays readable after SHUT_RD; its EOF then ends it.
      shutdown(c.fd.get(), SHUT_RD);
    }
    stats_->RecordToldOk(id);
    c.told_ok = true;
  }
  Report(MsgType::kTaken, id, kTakenOk);
  epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = id;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev);
  if (shutting_down_) {
    SendMessage(c, kErrServerExited);
    shutdown(c.fd.get(), SHUT_RD);
    c.peer_closed = true;
  }
  // Data may have arrived behind the path before this writer had the socket.
  Enqueue(c);
}

bool Writer::AdoptCredentials(const ChannelMessage& msg) {
  if (!(msg.flags & kAssignAsClient)) return creds_key_.empty();
  const PeerCredentials cred = CredentialsOf(msg);
  std::string key = CredentialsKey(cred);
  if (!creds_key_.empty()) return key == creds_key_;
  if (absl::Status s = DropToCredentials(cred); !s.ok()) {
    // Half-changed credentials are unsafe to go on with: exit, and the
    // acceptor passes the client to a fresh writer.
    LogError("writer %d: cannot take on uid %d gid %d: %s", getpid(), cred.uid,
             cred.gid, s.ToString());
    _exit(1);
  }
  creds_key_ = std::move(key);
  return true;
}

void Writer::OnClose() {
  std::string path = file_.path();
  if (file_.Close()) LogInfo({path, 0, {}}, "Closed %s", EscapeForLog(path));
}

// On failure the file open before stays in use.
void Writer::OnReopen() {
  const std::string& path = file_.path();
  if (path.empty()) return;
  if (int err = file_.Reopen(); err != 0) {
    LogWarning({path, 0, {}}, "Failed to reopen %s: %s", EscapeForLog(path),
               strerror(err));
    return;
  }
  ScheduleRotationCheck();
}

void Writer::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  std::vector<uint64_t> ids;
  for (auto& [id, c] : clients_) ids.push_back(id);
  for (uint64_t id : ids) {
    Client& c = clients_[id];
    if (!SendMessage(c, kErrServerExited)) {
      EndClient(id, Ending::kServerClosed);
      continue;
    }
    // What the client already sent stays readable; anything it sends from
    // now on is refused with EPIPE, so the drain below ends.
    shutdown(c.fd.get(), SHUT_RD);
    c.peer_closed = true;
    Enqueue(c);
  }
}

bool Writer::SendMessage(Client& c, absl::string_view msg) {
  std::string framed = FrameMessage(msg);
  ssize_t n = send(c.fd.get(), framed.data(), framed.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(framed.size())) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    LogWarning("Client %d sock not writeable", c.id);
  }
  return false;
}

void Writer::OnClientEvent(uint64_t id, uint32_t events) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    it->second.peer_closed = true;
  Enqueue(it->second);
}

void Writer::Enqueue(Client& c) {
  if (c.queued) return;
  c.queued = true;
  ready_.push_back(c.id);
}

// One turn for each client that was ready when the turn began; those with
// more to read go to the back of the queue.
void Writer::ServeReadyClients() {
  for (size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
    uint64_t id = ready_.front();
    ready_.pop_front();
    auto it = clients_.find(id);
    if (it == clients_.end()) continue;
    it->second.queued = false;
    if (Drain(it->second) == Drained::kMore) Enqueue(it->second);
  }
}

// A writer faster than its clients would otherwise wake for every record
// and spend four system calls on each. Pausing a moment after a small
// turn lets data gather in the sockets: far fewer calls per record, and the
// appends grow, for a delay of at most coalesce_us on data that arrives
// while the writer is otherwise idle. Under load turns are large and there
// is no pause.
void Writer::Coalesce(uint64_t appended) {
  if (config_.coalesce_us <= 0 || appended == 0 ||
      appended >= kCoalesceBelowBytes) {
    return;
  }
  timespec ts = {0, config_.coalesce_us * 1000L};
  nanosleep(&ts, nullptr);
}

void Writer::FlushQuietClients() {
  int64_t now = MonotonicMs();
  for (auto& [id, c] : clients_) {
    if (policy_.HoldExpired(c.partial_since_ms, now)) Enqueue(c);
  }
  if (!ready_.empty()) ServeReadyClients();
}

Drained Writer::Drain(Client& c) {
  for (int i = 0; i < kReadsPerTurn; ++i) {
    Drained d = ReadOnce(c);
    if (d != Drained::kMore) return d;
  }
  return Drained::kMore;
}

int Writer::WriteAll(absl::string_view data) {
  if (end_torn_line_) {
    end_torn_line_ = false;
    if (file_.EndsMidLine() && file_.Append("\n").error == 0) {
      LogWarning({file_.path(), 0, {}},
                 "Ended a line in %s that a writer that died left unfinished",
                 EscapeForLog(file_.path()));
    }
  }
  std::optional<uint64_t> size;
  if (policy_.NeedsFileSize()) size = file_.Size();
  LinePolicy::Fitted fit = policy_.Fit(data, size);
  TargetFile::Appended done = file_.Append(data.substr(0, fit.append));
  if (done.error == 0 && fit.cut) return EFBIG;
  return done.error;
}

size_t Writer::BytesToAppend(Client& c, size_t n) {
  LinePolicy::Decision d = policy_.Decide(absl::string_view(buf_.data(), n),
                                          c.peer_closed || shutting_down_,
                                          c.partial_since_ms, MonotonicMs());
  c.partial_since_ms = d.held_since_ms;
  return d.append;
}

Drained Writer::ReadOnce(Client& c) {
  // Data is taken out of the socket only once it is in the file: peek,
  // append, then consume what was appended. A writer that dies in between
  // leaves it in the socket for its successor, and an unfinished line
  // (--atomic-lines) waits there for its end.
  bool peek = config_.peek_reads || config_.atomic_lines;
  ssize_t n = recv(c.fd.get(), buf_.data(), kReadSize, peek ? MSG_PEEK : 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Drained::kIdle;
    if (errno == EINTR) return Drained::kMore;
    EndClient(c.id, Ending::kClientGone);
    return Drained::kGone;
  }
  if (n == 0) {
    EndClient(c.id,
              shutting_down_ ? Ending::kServerClosed : Ending::kClientDone);
    return Drained::kGone;
  }
  read_this_turn_ = true;
  size_t len = BytesToAppend(c, n);
  if (len == 0) return Drained::kIdle;
  absl::string_view data(buf_.data(), len);
  if (int err = WriteAll(data); err != 0) return FailWrite(c, err);
  if (peek) recv(c.fd.get(), buf_.data(), len, 0);
  CountWritten(data);
  // A full read may have left more behind it, the end of a held line
  // among it, and a client blocked on its full socket sends no new edge:
  // read on. A short read means the socket is drained (data arriving later
  // raises a new edge), so reading on until EAGAIN would only cost a call.
  // A closed peer is read on until its end of stream is seen.
  bool full_read = static_cast<size_t>(n) == kReadSize;
  return c.peer_closed || full_read ? Drained::kMore : Drained::kIdle;
}

Drained Writer::FailWrite(Client& c, int err) {
  stats_->write_errors++;
  std::string emsg = FormatOsError(err);
  LogWarning({file_.path(), c.id, {}}, "Failed to write to %s:\n%s",
             EscapeForLog(file_.path()), emsg);
  SendMessage(c, emsg);
  EndClient(c.id, Ending::kServerClosed);
  return Drained::kGone;
}

void Writer::CountWritten(absl::string_view data) {
  stats_->bytes_written += data.size();
  stats_->records_written += CountNewlines(data);
  stats_->last_write_ms = RealtimeMs();
}

void Writer::EndClient(uint64_t id, Ending ending) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  if (ending == Ending::kClientDone) {
    LogInfo("Client %d disconnected", id);
    SendMessage(c, kMsgBye);
  } else if (ending == Ending::kClientGone) {
    LogInfo("Client %d disconnected", id);
  } else {
    LogInfo("Closing connection with client %d", id);
  }
  if (c.fd) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    // The acceptor holds a duplicate of this socket; shutting it down (not
    // just closing our descriptor) is what tells the client we are done.
    shutdown(c.fd.get(), SHUT_RDWR);
  }
  bool confirmed = c.confirmed;
  clients_.erase(it);
  stats_->clients = clients_.size();
  if (confirmed) {
    LogInfo("Client %d done (remaining: %d) with %s", id, clients_.size(),
            EscapeForLog(file_.path()));
  }
  Report(MsgType::kClientDone, id);
}

void Writer::CheckRotation() {
  ScheduleRotationCheck();
  if (!file_.HasRotated()) return;
  LogInfo({file_.path(), 0, {}}, "File rotation detected: %s",
          EscapeForLog(file_.path()));
  TellRotated();
  // Follow the path to its new file, so that clients which ignore ROTATED
  // (offlog 0.1, offlog_tee) keep appending where the log now is.
  OnReopen();
}

// Tells each client not told yet that the file rotated; one that cannot
// hear it is let go.
void Writer::TellRotated() {
  std::vector<uint64_t> to_drop;
  for (auto& [id, c] : clients_) {
    if (c.told_rotated) continue;
    c.told_rotated = true;
    if (!SendMessage(c, kMsgRotated)) {
      to_drop.push_back(id);
    } else {
      Report(MsgType::kToldRotated, id);
    }
  }
  for (uint64_t id : to_drop) EndClient(id, Ending::kServerClosed);
}

}  // namespace

int RunWriter(UniqueFd channel, const WriterConfig& config,
              WriterStats* stats) {
  Writer writer(std::move(channel), config, stats);
  return writer.Run();
}

}  // namespace offlog
