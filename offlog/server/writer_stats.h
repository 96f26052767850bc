// Counters a writer publishes in memory shared with the acceptor, so that
// the acceptor can see them even while the writer is stuck in write() on a
// hung file system (which is exactly when they matter).
#ifndef OFFLOG_SERVER_WRITER_STATS_H_
#define OFFLOG_SERVER_WRITER_STATS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"

namespace offlog {

struct WriterStats {
  std::atomic<uint64_t> clients{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> records_written{0};  // Newlines written.
  std::atomic<uint64_t> write_errors{0};
  std::atomic<int64_t> last_write_ms{0};  // CLOCK_REALTIME ms; 0: never.
  // CLOCK_MONOTONIC ms when the current open() or write() began; 0 when the
  // writer is not inside one. A value far in the past means a stall.
  std::atomic<int64_t> busy_since_ms{0};
};

// A WriterStats in a MAP_SHARED anonymous mapping, so that it is the same
// memory in the acceptor and in the writer forked after it is made.
class SharedStats {
 public:
  static absl::StatusOr<SharedStats> Create();
  SharedStats() = default;
  SharedStats(SharedStats&& other) noexcept;
  SharedStats& operator=(SharedStats&& other) noexcept;
  SharedStats(const SharedStats&) = delete;
  SharedStats& operator=(const SharedStats&) = delete;
  ~SharedStats();

  WriterStats* get() const { return stats_; }

 private:
  explicit SharedStats(WriterStats* stats) : stats_(stats) {}
  WriterStats* stats_ = nullptr;
};

int64_t MonotonicMs();
int64_t RealtimeMs();

}  // namespace offlog

#endif  // OFFLOG_SERVER_WRITER_STATS_H_
