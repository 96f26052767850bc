// A FIFO of bytes kept in fixed-size chunks, for data that could not be sent
// yet. Appending never moves bytes already queued, and consuming from the
// front never copies, so a long backlog costs one copy in and one copy out.
//
// Not thread-safe.
#ifndef OFFLOG_CLIENT_BYTE_QUEUE_H_
#define OFFLOG_CLIENT_BYTE_QUEUE_H_

#include <sys/uio.h>

#include <cstddef>
#include <deque>
#include <memory>

#include "absl/strings/string_view.h"

namespace offlog {

class ByteQueue {
 public:
  static constexpr size_t kChunkSize = 64 * 1024;

  ByteQueue() = default;
  ByteQueue(ByteQueue&&) = default;
  ByteQueue& operator=(ByteQueue&&) = default;

  bool empty() const { return size_ == 0; }
  // Number of bytes queued.
  size_t size() const { return size_; }

  // Appends a copy of `data` at the back.
  void Append(absl::string_view data);

  // Points up to `max` entries of `iov` at the bytes at the front of the
  // queue, in order, and returns how many it filled (0 when empty). The
  // entries stay valid until the next non-const call.
  int Peek(struct iovec* iov, int max) const;

  // Removes the first `n` bytes; `n` must not exceed size().
  void Consume(size_t n);

  // Drops everything.
  void Clear();

 private:
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    size_t begin = 0;  // First unsent byte.
    size_t end = 0;    // One past the last queued byte.
  };

  std::deque<Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_BYTE_QUEUE_H_
