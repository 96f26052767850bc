#include "offlog/server/writer_stats.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include <new>
#include <utility>

namespace offlog {

absl::StatusOr<SharedStats> SharedStats::Create() {
  void* p = mmap(nullptr, sizeof(WriterStats), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  return SharedStats(new (p) WriterStats());
}

SharedStats::SharedStats(SharedStats&& other) noexcept
    : stats_(std::exchange(other.stats_, nullptr)) {}

SharedStats& SharedStats::operator=(SharedStats&& other) noexcept {
  if (this != &other) {
    this->~SharedStats();
    stats_ = std::exchange(other.stats_, nullptr);
  }
  return *this;
}

SharedStats::~SharedStats() {
  if (stats_ != nullptr) {
    stats_->~WriterStats();
    munmap(stats_, sizeof(WriterStats));
  }
}

namespace {
int64_t ClockMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

int64_t MonotonicMs() { return ClockMs(CLOCK_MONOTONIC); }
int64_t RealtimeMs() { return ClockMs(CLOCK_REALTIME); }

}  // namespace offlog
