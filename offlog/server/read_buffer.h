// The buffer a writer reads its clients into, and gives back to the kernel
// when the writer goes idle.
//
// A writer's memory is the pages it has touched (issue 12: an idle writer
// costs at most 100 KiB). The buffer is `size` bytes, page-aligned, and
// never zeroed, so a writer that only ever reads short records touches its
// first page alone; one that relayed 64 KiB records has touched all of it.
// Once no read has used it for `release_after_ms`, ReleaseIfDue() hands
// the pages back (MADV_DONTNEED): the next read faults in fresh ones. The
// contents do not outlive a read, so nothing is lost.
//
// Times are CLOCK_MONOTONIC ms, from the caller. Not thread-safe.
#ifndef OFFLOG_SERVER_READ_BUFFER_H_
#define OFFLOG_SERVER_READ_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace offlog {

class ReadBuffer {
 public:
  // `size` is a multiple of the page size (sysconf(_SC_PAGESIZE)).
  ReadBuffer(size_t size, int64_t release_after_ms);

  char* data() { return data_.get(); }
  size_t size() const { return size_; }

  // A read put bytes into the buffer at `now_ms`.
  void MarkUsed(int64_t now_ms) { used_ms_ = now_ms; }
  // When the release is due (ms), or -1 while nothing is held.
  int64_t ReleaseDueMs() const;
  // Gives the pages back if the release is due at `now_ms`; true if it did.
  bool ReleaseIfDue(int64_t now_ms);

 private:
  struct Deleter {
    void operator()(char* p) const;
  };
  std::unique_ptr<char[], Deleter> data_;
  size_t size_;
  int64_t release_after_ms_;
  int64_t used_ms_ = 0;  // 0: released (or never used).
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_READ_BUFFER_H_
