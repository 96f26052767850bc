#include "offlog/server/read_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

namespace offlog {

void ReadBuffer::Deleter::operator()(char* p) const { free(p); }

// Page-aligned: with 64 KiB records from 8 clients on 1 file, write()
// copied into the page cache more slowly from where malloc() had put it
// (the writer's CPU per record: 59 us, 46 us aligned; issue 12,
// docs/PERFORMANCE.md). Not zeroed: an idle writer touches none of it.
ReadBuffer::ReadBuffer(size_t size, int64_t release_after_ms)
    : data_(static_cast<char*>(aligned_alloc(sysconf(_SC_PAGESIZE), size))),
      size_(size),
      release_after_ms_(release_after_ms) {}

int64_t ReadBuffer::ReleaseDueMs() const {
  return used_ms_ == 0 ? -1 : used_ms_ + release_after_ms_;
}

bool ReadBuffer::ReleaseIfDue(int64_t now_ms) {
  if (used_ms_ == 0 || now_ms < ReleaseDueMs()) return false;
  used_ms_ = 0;
  return madvise(data_.get(), size_, MADV_DONTNEED) == 0;
}

}  // namespace offlog
