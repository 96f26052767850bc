#include "offlog/client/proxy_file.h"

#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "offlog/client/abspath.h"
#include "offlog/client/status_macros.h"
#include "offlog/common/pyerror.h"
#include "offlog/common/unix_socket.h"

namespace offlog {
namespace {

constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
constexpr int kMaxIovecs = 16;
constexpr size_t kRecvChunk = 4096;

// An errno as the original client would raise it: "<Class>: [Errno N] ...".
absl::Status OsErrorStatus(int err) {
  return StatusFromServerError(FormatOsError(err));
}

absl::Status BlockTimeout(int block_ms, size_t n) {
  return absl::DeadlineExceededError(absl::StrFormat(
      "offlog client queue still full after %d ms; %d bytes dropped", block_ms,
      n));
}

absl::Status NoResponse() {
  return absl::DeadlineExceededError("no response from server");
}

// When the socket is full, how long the timer thread waits before trying
// again (at least; linger_us if longer).
constexpr absl::Duration kBatchRetry = absl::Milliseconds(10);

// Holds `mu`, when not null, for its lifetime.
class MaybeLock {
 public:
  explicit MaybeLock(std::mutex* mu) : mu_(mu) {
    if (mu_ != nullptr) mu_->lock();
  }
  ~MaybeLock() {
    if (mu_ != nullptr) mu_->unlock();
  }
  MaybeLock(const MaybeLock&) = delete;
  MaybeLock& operator=(const MaybeLock&) = delete;

 private:
  std::mutex* mu_;
};

// Connects with a send buffer of the options' size; the send timeout also
// bounds a blocking connect(), which waits while the server's backlog is
// full (Linux applies SO_SNDTIMEO to AF_UNIX connects).
absl::StatusOr<UniqueFd> Connect(const ProxyFileOptions& options) {
  UnixConnectOptions connect_options;
  connect_options.send_buffer_bytes = options.send_buffer_bytes;
  connect_options.send_timeout =
      absl::Milliseconds(options.timeout_ms > 0 ? options.timeout_ms : 1);
  int err = 0;
  UniqueFd fd = ConnectUnixSocket(options.socket_path, connect_options, &err);
  if (fd.valid()) return fd;
  if (err == ENAMETOOLONG) {
    return absl::InvalidArgumentError("AF_UNIX path too long");
  }
  if (err == ENOENT) {
    return absl::NotFoundError(
        absl::StrCat("server socket ", options.socket_path, " not found"));
  }
  if (err == EAGAIN || err == EINPROGRESS) return NoResponse();
  return OsErrorStatus(err);
}

}  // namespace

// Sleeps until the owner's OnTimer() asks to be called again, or until
// WakeBy(); every call into the owner is under mu_. (std::mutex rather than
// absl::Mutex: it is on every batched Write(), and absl::Mutex's debug
// checks cost more than the rest of such a Write().)
class ProxyFile::Batcher {
 public:
  explicit Batcher(ProxyFile* owner)
      : owner_(owner), thread_([this] { Run(); }) {}
  ~Batcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_one();
    }
    thread_.join();
  }
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  std::mutex* mu() { return &mu_; }
  // Both under mu_.
  void set_owner(ProxyFile* owner) { owner_ = owner; }
  // Has the thread call OnTimer() by `when`: wakes it unless it is already
  // waiting for an earlier deadline.
  void WakeBy(absl::Time when) {
    if (when < waiting_until_) cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    // The state is checked before each wait, so a WakeBy() that came first
    // (even before the thread started) is not lost.
    while (!stop_) {
      waiting_until_ = owner_->OnTimer(absl::Now());
      if (waiting_until_ == absl::InfiniteFuture()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(waiting_until_));
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  ProxyFile* owner_;  // Guarded by mu_.
  // When the thread calls OnTimer() next. Guarded by mu_.
  absl::Time waiting_until_ = absl::InfinitePast();
  bool stop_ = false;
  std::thread thread_;  // Last: starts once the rest is initialised.
};

absl::string_view OverflowPolicyName(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::kDrop:
      return "drop";
    case OverflowPolicy::kFail:
      return "fail";
    case OverflowPolicy::kBlock:
      return "block";
  }
  return "unknown";
}

std::optional<OverflowPolicy> ParseOverflowPolicy(absl::string_view name) {
  for (OverflowPolicy policy :
       {OverflowPolicy::kDrop, OverflowPolicy::kFail, OverflowPolicy::kBlock}) {
    if (name == OverflowPolicyName(policy)) return policy;
  }
  return std::nullopt;
}

ProxyFile::ProxyFile(UniqueFd fd, const ProxyFileOptions& options)
    : fd_(std::move(fd)),
      timeout_ms_(options.timeout_ms),
      max_queued_bytes_(options.max_queued_bytes),
      overflow_policy_(options.overflow_policy),
      overflow_block_ms_(options.overflow_block_ms),
      linger_(absl::Microseconds(std::max<int64_t>(options.linger_us, 0))),
      batch_bytes_(options.batch_bytes) {}

ProxyFile::ProxyFile(ProxyFile&& other) noexcept { TakeFrom(other); }

ProxyFile& ProxyFile::operator=(ProxyFile&& other) noexcept {
  if (this != &other) {
    Close().IgnoreError();
    batcher_.reset();  // Joins this file's timer thread.
    TakeFrom(other);
  }
  return *this;
}

void ProxyFile::TakeFrom(ProxyFile& other) {
  MaybeLock lock(other.mutex());  // Its timer thread may be running.
  fd_ = std::move(other.fd_);
  timeout_ms_ = other.timeout_ms_;
  max_queued_bytes_ = other.max_queued_bytes_;
  overflow_policy_ = other.overflow_policy_;
  overflow_block_ms_ = other.overflow_block_ms_;
  dropped_bytes_ = other.dropped_bytes_;
  dropped_writes_ = other.dropped_writes_;
  queue_ = std::move(other.queue_);
  recv_buf_ = std::move(other.recv_buf_);
  rotated_ = other.rotated_;
  open_confirmed_ = other.open_confirmed_;
  sending_finished_ = other.sending_finished_;
  bye_ = other.bye_;
  error_ = std::move(other.error_);
  linger_ = other.linger_;
  batch_bytes_ = other.batch_bytes_;
  send_by_ = other.send_by_;
  send_at_bytes_ = other.send_at_bytes_;
  batcher_ = std::move(other.batcher_);
  if (batcher_ != nullptr) batcher_->set_owner(this);
}

std::mutex* ProxyFile::mutex() const {
  return batcher_ == nullptr ? nullptr : batcher_->mu();
}

void ProxyFile::StartBatching() {
  if (linger_ > absl::ZeroDuration()) {
    batcher_ = std::make_unique<Batcher>(this);
  }
}

size_t ProxyFile::queued_bytes() const {
  MaybeLock lock(mutex());
  return queue_.size();
}

uint64_t ProxyFile::dropped_bytes() const {
  MaybeLock lock(mutex());
  return dropped_bytes_;
}

uint64_t ProxyFile::dropped_writes() const {
  MaybeLock lock(mutex());
  return dropped_writes_;
}

bool ProxyFile::is_open() const {
  MaybeLock lock(mutex());
  return fd_.valid() && !sending_finished_;
}

bool ProxyFile::open_confirmed() const {
  MaybeLock lock(mutex());
  return open_confirmed_;
}

ProxyFile::~ProxyFile() { Close().IgnoreError(); }

absl::StatusOr<ProxyFile> ProxyFile::Open(absl::string_view path,
                                          const ProxyFileOptions& options) {
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("embedded null byte in filepath");
  }
  OFFLOG_ASSIGN_OR_RETURN(std::string handshake, AbsolutePath(path));
  handshake.push_back('\0');
  OFFLOG_ASSIGN_OR_RETURN(UniqueFd fd, Connect(options));
  ProxyFile file(std::move(fd), options);
  absl::Status status = file.Write(handshake);
  if (status.ok() && options.block_open) {
    absl::StatusOr<std::optional<std::string>> reply =
        file.ReadMessage(absl::Now() + file.timeout());
    if (!reply.ok()) {
      status = reply.status();
    } else if (!reply->has_value()) {
      status = NoResponse();
    } else if (**reply != kMsgOk) {
      status = StatusFromServerError(**reply);
    } else {
      file.open_confirmed_ = true;
    }
  }
  if (!status.ok()) {
    file.fd_.Reset();  // Abandon: no goodbye to wait for.
    return status;
  }
  file.StartBatching();
  return file;
}

absl::Status ProxyFile::Write(absl::string_view data) {
  if (batcher_ != nullptr) {
    std::lock_guard<std::mutex> lock(*batcher_->mu());
    return WriteBatched(data);
  }
  if (!fd_.valid() || sending_finished_) return ClosedStatus();
  if (!queue_.empty()) {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
    if (!queue_.empty() && !HasRoomFor(data.size())) {
      if (std::optional<absl::Status> done = MakeRoomOrOverflow(data.size())) {
        return *done;
      }
    }
    if (!queue_.empty()) {
      queue_.Append(data);
      return absl::OkStatus();
    }
  }
  return SendOrQueue(data);
}

std::optional<absl::Status> ProxyFile::MakeRoomOrOverflow(size_t n) {
  if (overflow_policy_ != OverflowPolicy::kBlock) return Overflow(n);
  absl::Time deadline = absl::Now() + absl::Milliseconds(overflow_block_ms_);
  absl::StatusOr<bool> room = WaitForRoom(n, deadline);
  if (!room.ok()) return room.status();
  if (!*room) return Overflow(n);
  return std::nullopt;
}

absl::Status ProxyFile::WriteBatched(absl::string_view data) {
  if (!fd_.valid() || sending_finished_) return ClosedStatus();
  if (!HasRoomFor(data.size())) {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
    if (!queue_.empty() && !HasRoomFor(data.size())) {
      if (std::optional<absl::Status> done = MakeRoomOrOverflow(data.size())) {
        return *done;
      }
    }
    if (queue_.empty() && !HasRoomFor(data.size())) {
      // Larger than the bound: sent at once, as without batching.
      send_by_ = absl::InfiniteFuture();
      OFFLOG_RETURN_IF_ERROR(SendOrQueue(data));
      if (!queue_.empty()) {
        AfterBatchSend(absl::Now());
        batcher_->WakeBy(send_by_);
      }
      return absl::OkStatus();
    }
  }
  absl::Time now = absl::Now();
  if (queue_.empty()) {
    send_by_ = now + linger_;
    send_at_bytes_ = batch_bytes_;
    batcher_->WakeBy(send_by_);
  }
  queue_.Append(data);
  if (queue_.size() < send_at_bytes_ && now < send_by_) {
    return absl::OkStatus();
  }
  OFFLOG_RETURN_IF_ERROR(SendQueued());
  AfterBatchSend(now);
  return absl::OkStatus();
}

void ProxyFile::AfterBatchSend(absl::Time now) {
  if (queue_.empty()) {
    send_by_ = absl::InfiniteFuture();
    return;
  }
  // The socket is full: try again after another batch or a while, not on
  // every Write() (each try is a system call).
  send_by_ = now + std::max(linger_, kBatchRetry);
  send_at_bytes_ = queue_.size() + batch_bytes_;
}

absl::Time ProxyFile::OnTimer(absl::Time now) {
  if (!fd_.valid() || sending_finished_ || queue_.empty()) {
    send_by_ = absl::InfiniteFuture();
    return send_by_;
  }
  if (now < send_by_) return send_by_;
  // An error closes the connection; the next call returns it.
  SendQueued().IgnoreError();
  AfterBatchSend(now);
  return send_by_;
}

absl::Status ProxyFile::SendOrQueue(absl::string_view data) {
  const size_t size = data.size();
  std::optional<absl::Time> deadline;  // Set by kBlock's first wait.
  while (!data.empty()) {
    ssize_t sent = ::send(fd_.get(), data.data(), data.size(), kSendFlags);
    if (sent >= 0) {
      data.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return FailSend(errno);
    // Once part of `data` is sent the rest is queued, even past the bound:
    // cutting it would tear a record.
    if (data.size() < size || HasRoomFor(size)) {
      queue_.Append(data);
      break;
    }
    if (overflow_policy_ != OverflowPolicy::kBlock) return Overflow(size);
    if (!deadline.has_value()) {
      deadline = absl::Now() + absl::Milliseconds(overflow_block_ms_);
    }
    if (!WaitFor(POLLOUT, *deadline)) return Overflow(size);
  }
  return absl::OkStatus();
}

absl::Status ProxyFile::Overflow(size_t n) {
  dropped_bytes_ += n;
  ++dropped_writes_;
  switch (overflow_policy_) {
    case OverflowPolicy::kDrop:
      return absl::OkStatus();
    case OverflowPolicy::kFail:
      return absl::ResourceExhaustedError(absl::StrFormat(
          "offlog client queue full (%d bytes queued, at most %d); %d bytes "
          "dropped",
          queue_.size(), max_queued_bytes_, n));
    case OverflowPolicy::kBlock:
      return BlockTimeout(overflow_block_ms_, n);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ProxyFile::WaitForRoom(size_t n, absl::Time deadline) {
  for (;;) {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
    if (queue_.empty() || HasRoomFor(n)) return true;
    if (!WaitFor(POLLOUT, deadline)) return false;
  }
}

absl::Status ProxyFile::SendQueued() {
  while (!queue_.empty()) {
    struct iovec iov[kMaxIovecs];
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(queue_.Peek(iov, kMaxIovecs));
    ssize_t sent = ::sendmsg(fd_.get(), &msg, kSendFlags);
    if (sent >= 0) {
      queue_.Consume(static_cast<size_t>(sent));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno != EINTR) {
      return FailSend(errno);
    }
  }
  return absl::OkStatus();
}

absl::Status ProxyFile::FlushUntil(absl::Time deadline,
                                   absl::string_view what) {
  for (;;) {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
    if (queue_.empty()) return absl::OkStatus();
    if (!WaitFor(POLLOUT, deadline)) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "timed out flushing unsent data%s. %d bytes not sent.", what,
          queue_.size()));
    }
  }
}

absl::Status ProxyFile::Flush() {
  MaybeLock lock(mutex());
  if (!fd_.valid()) return ClosedStatus();
  return FlushUntil(absl::Now() + timeout(), "");
}

absl::StatusOr<int> ProxyFile::UnreadByServer() const {
  int unread = 0;
  if (::ioctl(fd_.get(), SIOCOUTQ, &unread) != 0) return OsErrorStatus(errno);
  return unread;
}

absl::Status ProxyFile::WaitWritten(absl::Time deadline) {
  MaybeLock lock(mutex());
  if (!fd_.valid()) return ClosedStatus();
  // Nothing announces that the server has read the socket: poll for its
  // messages (an error) in short, growing steps.
  absl::Duration step = absl::Milliseconds(1);
  for (;;) {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
    OFFLOG_RETURN_IF_ERROR(ReadPendingMessages());
    if (bye_) return absl::OkStatus();  // After FinishSending().
    if (queue_.empty()) {
      OFFLOG_ASSIGN_OR_RETURN(int unread, UnreadByServer());
      // A writer that fails sends its error and then closes the socket,
      // which discards what was unread: read what it sent before trusting
      // an empty socket.
      if (unread == 0) return ReadPendingMessages();
    }
    absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "timed out waiting for the server to write the data (%d bytes "
          "still queued)",
          queue_.size()));
    }
    short events = queue_.empty() ? POLLIN : (POLLIN | POLLOUT);
    WaitFor(events, std::min(deadline, now + step));
    step = std::min(step * 2, absl::Milliseconds(16));
  }
}

absl::StatusOr<std::optional<std::string>> ProxyFile::ReadMessage(
    absl::Time deadline) {
  for (;;) {
    size_t nul = recv_buf_.find('\0');
    if (nul != std::string::npos) {
      std::string msg = recv_buf_.substr(0, nul);
      recv_buf_.erase(0, nul + 1);
      return msg;
    }
    char buf[kRecvChunk];
    ssize_t got = ::recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (got > 0) {
      recv_buf_.append(buf, static_cast<size_t>(got));
    } else if (got == 0) {
      return absl::UnavailableError(
          "EOFError: server closed the connection without a message");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitFor(POLLIN, deadline)) return std::nullopt;
    } else if (errno != EINTR) {
      return OsErrorStatus(errno);
    }
  }
}

absl::Status ProxyFile::ReadPendingMessages() {
  for (;;) {
    absl::StatusOr<std::optional<std::string>> msg =
        ReadMessage(absl::InfinitePast());
    if (!msg.ok()) {
      if (bye_) return absl::OkStatus();  // The server's end after BYE.
      return Fail(msg.status());
    }
    if (!msg->has_value()) return absl::OkStatus();
    if (**msg == kMsgRotated) {
      rotated_ = true;
    } else if (**msg == kMsgBye && sending_finished_) {
      bye_ = true;
    } else if (**msg == kMsgOk) {
      open_confirmed_ = true;
    } else {
      return Fail(StatusFromServerError(**msg));
    }
  }
}

absl::StatusOr<bool> ProxyFile::CheckRotated() {
  MaybeLock lock(mutex());
  if (!fd_.valid()) {
    if (!error_.ok()) return error_;
    return rotated_;
  }
  OFFLOG_RETURN_IF_ERROR(ReadPendingMessages());
  return rotated_;
}

absl::Status ProxyFile::FailSend(int err) {
  // The server sends its reason before closing; it is waiting to be read.
  for (;;) {
    absl::StatusOr<std::optional<std::string>> msg =
        ReadMessage(absl::InfinitePast());
    if (!msg.ok() || !msg->has_value()) break;
    if (**msg == kMsgRotated) {
      rotated_ = true;
    } else if (**msg == kMsgOk) {
      open_confirmed_ = true;
    } else {
      return Fail(StatusFromServerError(**msg));
    }
  }
  return Fail(OsErrorStatus(err));
}

absl::Status ProxyFile::FinishSending() {
  MaybeLock lock(mutex());
  if (!fd_.valid() || sending_finished_) return ClosedStatus();
  absl::Status status = FlushUntil(absl::Now() + timeout(), " on close()");
  if (status.ok() && ::shutdown(fd_.get(), SHUT_WR) != 0) {
    status = OsErrorStatus(errno);
  }
  if (!status.ok()) return Fail(status);
  sending_finished_ = true;
  return absl::OkStatus();
}

absl::Status ProxyFile::ClosedStatus() const {
  if (!error_.ok()) return error_;
  return absl::FailedPreconditionError("I/O operation on closed ProxyFile");
}

absl::Status ProxyFile::Fail(absl::Status error) {
  fd_.Reset();
  queue_.Clear();
  recv_buf_.clear();
  error_ = error;
  return error;
}

absl::Status ProxyFile::Close(bool block_send, bool block_close) {
  MaybeLock lock(mutex());
  if (!fd_.valid()) return absl::OkStatus();
  absl::Status status = FinishClose(block_send, block_close);
  fd_.Reset();
  queue_.Clear();
  recv_buf_.clear();
  return status;
}

absl::Status ProxyFile::FinishClose(bool block_send, bool block_close) {
  if (sending_finished_) {
    if (!block_close || bye_) return absl::OkStatus();
  } else if (block_send) {
    OFFLOG_RETURN_IF_ERROR(FlushUntil(absl::Now() + timeout(), " on close()"));
  } else {
    OFFLOG_RETURN_IF_ERROR(SendQueued());
  }
  if (!sending_finished_ && ::shutdown(fd_.get(), SHUT_WR) != 0) {
    return OsErrorStatus(errno);
  }
  if (!block_close) return absl::OkStatus();
  absl::Time deadline = absl::Now() + timeout();
  for (;;) {
    OFFLOG_ASSIGN_OR_RETURN(std::optional<std::string> msg,
                            ReadMessage(deadline));
    if (!msg.has_value()) return NoResponse();
    if (*msg == kMsgBye) return absl::OkStatus();
    if (*msg != kMsgOk && *msg != kMsgRotated) {
      return StatusFromServerError(*msg);
    }
  }
}

bool ProxyFile::WaitFor(short events, absl::Time deadline) const {
  for (;;) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    struct pollfd pfd = {fd_.get(), events, 0};
    int ms = static_cast<int>(
        std::ceil(absl::FDivDuration(left, absl::Milliseconds(1))));
    int rc = ::poll(&pfd, 1, ms);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // Let the next call report it.
  }
}

}  // namespace offlog
