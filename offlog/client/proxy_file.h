// ProxyFile: append to a file through a running offlog server without ever
// blocking on file I/O.
//
// Opening a ProxyFile connects to the server's Unix socket and sends it the
// file's absolute path; the server opens the file for appending and from then
// on writes whatever bytes arrive on the connection. Write() costs one
// non-blocking send() while the server keeps up; bytes that the socket cannot
// take immediately are queued in the client and sent first on the next
// Write(), or by Flush() or Close().
//
// What the socket cannot take is queued, up to ProxyFileOptions::
// max_queued_bytes; beyond that the overflow policy decides (drop the new
// data, fail, or block for a while), and dropped_bytes()/dropped_writes()
// count what never reached the queue. A write is queued whole or dropped
// whole, never cut.
//
// WaitWritten() waits until everything accepted so far is in the file.
//
// Batching (opt-in, ProxyFileOptions::linger_us > 0), like Kafka's
// linger.ms: Write() only copies the data into the queue; the queue is sent
// in one send() once it holds batch_bytes, or linger_us after its oldest
// byte arrived, whichever comes first. A timer thread owned by the
// ProxyFile sends it on time even if nothing more is written. The held
// bytes count towards max_queued_bytes. The cost: a client that crashes
// loses what it held, at most linger_us's worth of writes (plus, as
// without batching, whatever was queued because the socket was full).
//

// Errors the server reports (it could not open the file, a write failed, it
// is shutting down) arrive as a Status whose message is the server's text,
// e.g. "FileNotFoundError: [Errno 2] No such file or directory: '/x/y.log'",
// and whose code fits it (NotFound, PermissionDenied, ...). After an error
// the connection is closed and every later Write() returns the same error.
//
// Example:
//
//   absl::StatusOr<offlog::ProxyFile> file =
//       offlog::ProxyFile::Open("/var/log/myapp.log");
//   if (!file.ok()) return file.status();
//   absl::Status s = file->Write("hello\n");
//   ...
//   s = file->Close();  // Waits for the server to confirm the data is written.
//
// A ProxyFile is not thread-safe; see SyncProxyFile for one that is. With
// batching on, it owns a timer thread that takes an internal lock; the rule
// for callers is unchanged: call its methods (all of them, the accessors
// too) from one thread at a time. The timer thread never calls back into
// the application. The thread ends when the ProxyFile is destroyed. A
// child made by fork() has no timer thread: it must neither use nor destroy
// a batching ProxyFile inherited from its parent (exec or _exit instead).
#ifndef OFFLOG_CLIENT_PROXY_FILE_H_
#define OFFLOG_CLIENT_PROXY_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/client/byte_queue.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

// What Write() does with data that would take the queue of unsent bytes
// past ProxyFileOptions::max_queued_bytes.
enum class OverflowPolicy {
  // Drops the data and returns OK; Write() never blocks. The default.
  kDrop,
  // Drops the data and returns ResourceExhausted.
  kFail,
  // Blocks, sending, until the data fits or overflow_block_ms passes; then
  // drops it and returns DeadlineExceeded.
  kBlock,
};

// "drop", "fail" or "block".
absl::string_view OverflowPolicyName(OverflowPolicy policy);
// The policy named by "drop", "fail" or "block"; nullopt for anything else.
std::optional<OverflowPolicy> ParseOverflowPolicy(absl::string_view name);

inline constexpr size_t kDefaultMaxQueuedBytes = 64 * 1024 * 1024;
inline constexpr size_t kDefaultBatchBytes = 16 * 1024;

struct ProxyFileOptions {
  // The server's listening socket.
  std::string socket_path = std::string(kDefaultSocketPath);
  // Limit, in milliseconds, on each blocking exchange with the server:
  // connecting, waiting for the open to be confirmed, flushing queued data
  // and waiting for the server's goodbye on Close().
  int timeout_ms = kDefaultTimeoutMs;
  // When true, Open() waits for the server to confirm that it opened the
  // file and returns its error if it could not. When false, Open() returns
  // as soon as the path is sent and an error surfaces on a later call.
  bool block_open = true;
  // SO_SNDBUF for the connection, in bytes; 0 keeps the system default.
  int send_buffer_bytes = 0;
  // Most bytes kept queued in this process while the socket is full. A
  // single write larger than this is accepted only when the queue is empty
  // and the socket takes part of it at once (the rest is then queued, past
  // the bound, rather than cut).
  size_t max_queued_bytes = kDefaultMaxQueuedBytes;
  // What Write() does with data that does not fit.
  OverflowPolicy overflow_policy = OverflowPolicy::kDrop;
  // With OverflowPolicy::kBlock, how long, in milliseconds, one Write() may
  // block waiting for room.
  int overflow_block_ms = kDefaultTimeoutMs;
  // Batching: the longest, in microseconds, that Write() may hold data in
  // this process before it is sent, so that many small writes go in one
  // send(). 0 (the default) turns batching off: Write() sends at once.
  // A client crash can lose up to this much of the latest writes.
  int64_t linger_us = 0;
  // With batching on, the held data is sent as soon as it reaches this many
  // bytes, without waiting for linger_us.
  size_t batch_bytes = kDefaultBatchBytes;
};

class ProxyFile {
 public:
  // Connects to the server and asks it to open `path` for appending.
  // `path` is made absolute against the current directory and normalised
  // lexically, as Python's os.path.abspath does.
  //
  // Errors: InvalidArgument "embedded null byte in filepath"; NotFound
  // "server socket <socket_path> not found"; DeadlineExceeded "no response
  // from server"; or the server's own error.
  static absl::StatusOr<ProxyFile> Open(absl::string_view path,
                                        const ProxyFileOptions& options = {});

  ProxyFile(ProxyFile&& other) noexcept;
  ProxyFile& operator=(ProxyFile&& other) noexcept;
  ProxyFile(const ProxyFile&) = delete;
  ProxyFile& operator=(const ProxyFile&) = delete;

  // Close()s with the defaults, ignoring errors: may block for up to twice
  // the timeout.
  ~ProxyFile();

  // Appends `data` (any bytes) to the file. Sends what the socket takes now,
  // after any data queued earlier, and queues the rest. Allocates nothing
  // unless it has to queue. Returns the server's error if the server has
  // closed the connection.
  //
  // When the rest does not fit below max_queued_bytes, all of `data` is
  // dropped (counted by dropped_bytes() and dropped_writes()) and Write()
  // returns OK (kDrop), ResourceExhausted (kFail), or first blocks for up
  // to overflow_block_ms and returns DeadlineExceeded if it still does not
  // fit (kBlock). Except under kBlock, Write() never blocks.
  //
  // With batching on (linger_us > 0), Write() sends nothing until the
  // queue holds batch_bytes; the timer thread sends it linger_us after its
  // oldest byte was written. When Write() returns, the data is then only
  // in this process's memory, for up to linger_us.
  absl::Status Write(absl::string_view data);

  // Blocks until every byte accepted by Write() so far has been written to
  // the file by the server, or until `deadline`: sends the queue (a batch
  // being held included, without waiting for linger_us), then
  // waits until the server has read everything from the socket (SIOCOUTQ).
  // offlogd (with --peek-reads or --atomic-lines, its defaults) takes bytes
  // out of the socket only once they are in the file, so then they are in
  // the file. (The Python original, and offlogd with neither, reads before
  // it writes: against them, OK means only "received by the server".)
  //
  // With offlogd's --atomic-lines (the default) a last line without its
  // newline is held back in the socket for up to --line-hold-ms, so
  // WaitWritten() returns only after that.
  //
  // Nothing announces that the server has read the socket, so it polls:
  // every millisecond at first, backing off to every 16 ms.
  //
  // Returns OK; DeadlineExceeded if `deadline` passes first (nothing is
  // lost: the data is still queued or in the socket); or the server's error
  // (a failed write, the server shutting down), never OK, once the server
  // has reported one. On a closed file, what Write() would return.
  absl::Status WaitWritten(absl::Time deadline);

  // Returns whether the server has reported that the file was renamed,
  // moved or deleted since it was opened (it checks periodically). Once
  // true it stays true; reopen the path to follow the rotation.
  absl::StatusOr<bool> CheckRotated();

  // Blocks for up to the timeout until all queued data (a batch being held
  // included) has been handed to the socket. DeadlineExceeded if that does
  // not happen in time.
  absl::Status Flush();

  // Ends the sending side as Close(/*block_send=*/true, false) does (sends
  // the queue, blocking for up to the timeout, then shuts the socket down
  // for writing) but keeps the connection to hear the server's goodbye, for
  // callers that reopen the path and still want to know when this file's
  // data is written. Afterwards Write() fails with FailedPrecondition,
  // WaitWritten() returns OK once the server has written everything, and
  // Close() ends the connection (waiting for the goodbye if asked to).
  // On an error the connection is closed and the error returned.
  absl::Status FinishSending();

  // Ends the connection. With `block_send`, first blocks for up to the
  // timeout sending queued data (otherwise sends only what it can without
  // blocking); with `block_close`, then waits for up to the timeout for the
  // server to confirm that everything was written and the file closed.
  // Idempotent: closing a closed file does nothing and returns OK.
  absl::Status Close(bool block_send = true, bool block_close = true);

  // Bytes accepted by Write() but not yet handed to the socket (a batch
  // being held included).
  size_t queued_bytes() const;

  // Bytes, and Write() calls, dropped because the queue was full, whatever
  // the policy, since Open(). Never reset.
  uint64_t dropped_bytes() const;
  uint64_t dropped_writes() const;

  // False once closed, whether by Close(), FinishSending() or an error.
  bool is_open() const;

  // Whether the server has said that it opened the file: true from Open()
  // with block_open; without it, once a later call has read the server's
  // OK (CheckRotated() and WaitWritten() read what has arrived). False
  // after the server's error for the open.
  bool open_confirmed() const;

 private:
  // The timer thread of a batching ProxyFile, and the lock it shares with
  // the ProxyFile's methods. Heap-allocated so that its address, which the
  // thread uses, survives moves of the ProxyFile.
  class Batcher;

  ProxyFile(UniqueFd fd, const ProxyFileOptions& options);
  // The lock shared with the timer thread; nullptr when not batching.
  std::mutex* mutex() const;
  // Starts the timer thread if linger_us > 0 (after the handshake).
  void StartBatching();
  // Write() with batching on, under the lock.
  absl::Status WriteBatched(absl::string_view data);
  // Moves `other`'s state into this file (under `other`'s lock).
  void TakeFrom(ProxyFile& other);
  // Sets when to send again after a send at `now`: not before another
  // batch_bytes or max(linger, 10 ms) if some is still queued.
  void AfterBatchSend(absl::Time now);
  // The timer thread's work, under the lock: sends the queue if its
  // deadline has passed; returns when to come back (InfiniteFuture for
  // when something is queued).
  absl::Time OnTimer(absl::Time now);

  // Sends as much queued data as the socket takes without blocking.
  absl::Status SendQueued();
  // Write() once the queue is empty: sends `data` directly and queues what
  // the socket does not take.
  absl::Status SendOrQueue(absl::string_view data);
  // Whether `n` more bytes fit below the bound.
  bool HasRoomFor(size_t n) const {
    return n <= max_queued_bytes_ && queue_.size() <= max_queued_bytes_ - n;
  }
  // Drops `n` bytes that do not fit (under kBlock, after waiting) and
  // returns what Write() returns for them under the policy.
  absl::Status Overflow(size_t n);
  // kBlock: sends until `n` bytes fit or the queue is empty, waiting for
  // the socket until `deadline`; false if that does not happen in time.
  absl::StatusOr<bool> WaitForRoom(size_t n, absl::Time deadline);
  // For `n` bytes that do not fit: under kBlock waits up to the overflow
  // timeout for room. Returns nullopt once there is room; else (another
  // policy, or no room in time) what Write() returns for the bytes, which
  // are dropped (Overflow), or the error that stopped the wait.
  std::optional<absl::Status> MakeRoomOrOverflow(size_t n);
  // Bytes sent on the socket and not yet read by the server (an estimate
  // of the kernel's accounting, 0 exactly when nothing is unread).
  absl::StatusOr<int> UnreadByServer() const;
  // Sends queued data, waiting for the socket until `deadline`.
  absl::Status FlushUntil(absl::Time deadline, absl::string_view what);
  // Returns the next message from the server, waiting for one until
  // `deadline`; nullopt when none arrived in time.
  absl::StatusOr<std::optional<std::string>> ReadMessage(absl::Time deadline);
  // Handles the messages already received: OK is ignored, ROTATED noted,
  // BYE (after FinishSending()) noted, and an error closes the connection
  // and is returned.
  absl::Status ReadPendingMessages();
  // Called when send() failed with `err`: closes the connection and returns
  // the error the server sent, or `err` as Python would report it.
  absl::Status FailSend(int err);
  // Closes the connection, keeping `error` for later calls; returns it.
  absl::Status Fail(absl::Status error);
  absl::Status FinishClose(bool block_send, bool block_close);
  // What calls on a closed file return.
  absl::Status ClosedStatus() const;
  // Waits for `events` on the socket until `deadline`; false on timeout.
  bool WaitFor(short events, absl::Time deadline) const;
  absl::Duration timeout() const { return absl::Milliseconds(timeout_ms_); }

  UniqueFd fd_;
  int timeout_ms_;
  size_t max_queued_bytes_;
  OverflowPolicy overflow_policy_;
  int overflow_block_ms_;
  uint64_t dropped_bytes_ = 0;
  uint64_t dropped_writes_ = 0;
  ByteQueue queue_;
  std::string recv_buf_;
  bool rotated_ = false;
  bool open_confirmed_ = false;    // The server said OK to the open.
  bool sending_finished_ = false;  // FinishSending() shut the socket down.
  bool bye_ = false;               // The server said goodbye.
  absl::Status error_;  // Why the connection was closed, if by an error.
  // Batching: linger_ > 0 when on. The queue is next sent by send_by_
  // (InfiniteFuture when nothing is held)...
  absl::Duration linger_;
  size_t batch_bytes_;
  absl::Time send_by_ = absl::InfiniteFuture();
  // ... or once the queue holds this many bytes.
  size_t send_at_bytes_ = 0;
  // Declared last: destroyed (its thread joined) before everything else.
  std::unique_ptr<Batcher> batcher_;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_PROXY_FILE_H_
