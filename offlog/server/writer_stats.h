// Counters a writer publishes in memory shared with the acceptor, so that
// the acceptor can see them even while the writer is stuck in write() on a
// hung file system (which is exactly when they matter).
#ifndef OFFLOG_SERVER_WRITER_STATS_H_
#define OFFLOG_SERVER_WRITER_STATS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/statusor.h"
#include "offlog/common/unique_fd.h"

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

// A WriterStats in a memfd mapped MAP_SHARED: the acceptor creates it and
// passes the descriptor to the writer it spawns, which maps the same memory.
class SharedStats {
 public:
  // A new, zeroed WriterStats (acceptor side).
  static absl::StatusOr<SharedStats> Create();
  // Maps the WriterStats behind `fd`, made by Create() (writer side).
  static absl::StatusOr<SharedStats> Attach(UniqueFd fd);
  SharedStats() = default;
  SharedStats(SharedStats&& other) noexcept;
  SharedStats& operator=(SharedStats&& other) noexcept;
  SharedStats(const SharedStats&) = delete;
  SharedStats& operator=(const SharedStats&) = delete;
  ~SharedStats();

  WriterStats* get() const { return stats_; }
  // The memfd behind the mapping, to pass to a writer.
  int fd() const { return fd_.get(); }

 private:
  SharedStats(WriterStats* stats, UniqueFd fd)
      : stats_(stats), fd_(std::move(fd)) {}
  WriterStats* stats_ = nullptr;
  UniqueFd fd_;
};

int64_t MonotonicMs();
int64_t RealtimeMs();

}  // namespace offlog

#endif  // OFFLOG_SERVER_WRITER_STATS_H_
