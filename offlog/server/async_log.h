// The acceptor's server log: records are queued in memory and written by a
// thread of their own, so that a log sink that blocks (a pipe nobody reads,
// a terminal paused with Ctrl-S, a slow disk under --logfile) never blocks
// the acceptor, and so no client. The queue is bounded: beyond
// kMaxQueuedBytes records are dropped and counted, and the count is logged
// once there is room again. The thread takes the whole queue at each
// wake-up, so at most twice kMaxQueuedBytes are held: the queue, and the
// batch the thread is writing.
//
// Write() only queues; Flush() hands the queue to the thread. The acceptor
// flushes once per turn of its event loop, so the thread wakes once per
// turn rather than once per record (five records per client connection: a
// wake-up each took the acceptor's CPU while it had clients waiting).
#ifndef OFFLOG_SERVER_ASYNC_LOG_H_
#define OFFLOG_SERVER_ASYNC_LOG_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <thread>

#include "offlog/server/journal.h"
#include "offlog/server/server_log.h"

namespace offlog {

class AsyncLog : public LogSink {
 public:
  static constexpr size_t kMaxQueuedBytes = 4 << 20;
  static constexpr int kStopWaitMs = 2000;

  // Starts the thread. Start it only after every fork the process makes:
  // a forked child would not have the thread. With `journal`, records go
  // to journald (with their fields, without offlogd's timestamp) instead of
  // stdout and stderr; the --logfile, if any, still gets the text format.
  explicit AsyncLog(std::optional<JournalSink> journal = std::nullopt);
  // Writes what is queued, waiting for the sinks at most kStopWaitMs; a
  // thread stuck in a sink is left behind (with the queue it owns), since it
  // must not keep offlogd from exiting.
  ~AsyncLog() override;
  AsyncLog(const AsyncLog&) = delete;
  AsyncLog& operator=(const AsyncLog&) = delete;

  // Queues a record; it is written after the next Flush().
  void Write(Level level, absl::string_view message,
             const LogFields& fields) override;
  // Wakes the thread to write what is queued. Never waits for the sinks.
  void Flush();
  // Records the thread has handed to the sinks so far.
  uint64_t written() const;
  // The thread's id (gettid), or 0 until it has started.
  pid_t thread_id() const;
  // Records dropped so far because the queue was full.
  uint64_t dropped() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_ASYNC_LOG_H_
