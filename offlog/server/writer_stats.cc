#include "offlog/server/writer_stats.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <new>
#include <utility>

namespace offlog {

namespace {

absl::StatusOr<WriterStats*> MapStats(int fd) {
  void* p = mmap(nullptr, sizeof(WriterStats), PROT_READ | PROT_WRITE,
                 MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  return static_cast<WriterStats*>(p);
}

}  // namespace

absl::StatusOr<SharedStats> SharedStats::Create() {
  UniqueFd fd(memfd_create("offlog-writer-stats", MFD_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "memfd_create");
  if (ftruncate(fd.get(), sizeof(WriterStats)) != 0) {
    return absl::ErrnoToStatus(errno, "ftruncate");
  }
  absl::StatusOr<WriterStats*> p = MapStats(fd.get());
  if (!p.ok()) return p.status();
  return SharedStats(new (*p) WriterStats(), std::move(fd));
}

absl::StatusOr<SharedStats> SharedStats::Attach(UniqueFd fd) {
  // The memory is a WriterStats the spawner's Create() constructed (a
  // fresh memfd page is all zeroes, which is what it constructs too).
  absl::StatusOr<WriterStats*> p = MapStats(fd.get());
  if (!p.ok()) return p.status();
  return SharedStats(*p, std::move(fd));
}

SharedStats::SharedStats(SharedStats&& other) noexcept
    : stats_(std::exchange(other.stats_, nullptr)), fd_(std::move(other.fd_)) {}

SharedStats& SharedStats::operator=(SharedStats&& other) noexcept {
  if (this != &other) {
    if (stats_ != nullptr) munmap(stats_, sizeof(WriterStats));
    stats_ = std::exchange(other.stats_, nullptr);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

SharedStats::~SharedStats() {
  if (stats_ != nullptr) munmap(stats_, sizeof(WriterStats));
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
