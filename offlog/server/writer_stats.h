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
  // The last kToldOkSlots clients told OK, by client id (0: none), written
  // right after each send() of OK. At most that many clients can have been
  // told OK without the acceptor having read the writer's report (kTaken)
  // yet, since a writer has at most as many assignments unanswered; so
  // when a writer dies, the acceptor learns here whom it told, and the
  // window in which a client can hear OK twice is a few instructions.
  static constexpr int kToldOkSlots = 64;
  std::atomic<uint64_t> told_ok[kToldOkSlots] = {};
  std::atomic<uint32_t> told_ok_next{0};

  void RecordToldOk(uint64_t client_id) {
    uint32_t i = told_ok_next.fetch_add(1, std::memory_order_relaxed);
    told_ok[i % kToldOkSlots].store(client_id, std::memory_order_release);
  }
  bool WasToldOk(uint64_t client_id) const {
    for (const auto& slot : told_ok) {
      if (slot.load(std::memory_order_acquire) == client_id) return true;
    }
    return false;
  }
};

// A WriterStats in a memfd mapped MAP_SHARED. The spawner creates one for
// each writer it starts (spawner.cc): the writer, cloned from the spawner,
// inherits the mapping, and the spawner passes the memfd to the acceptor
// with kSpawned, which maps the same memory with Attach().
class SharedStats {
 public:
  // A new, zeroed WriterStats (the spawner's side, one per writer).
  static absl::StatusOr<SharedStats> Create();
  // Maps the WriterStats behind `fd`, made by Create() (the acceptor's
  // side: the memfd came with kSpawned).
  static absl::StatusOr<SharedStats> Attach(UniqueFd fd);
  SharedStats() = default;
  SharedStats(SharedStats&& other) noexcept;
  SharedStats& operator=(SharedStats&& other) noexcept;
  SharedStats(const SharedStats&) = delete;
  SharedStats& operator=(const SharedStats&) = delete;
  ~SharedStats();

  WriterStats* get() const { return stats_; }
  // The memfd behind the mapping, to pass to the acceptor.
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
