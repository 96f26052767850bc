#include "offlog/client/byte_queue.h"

#include <algorithm>
#include <cstring>

namespace offlog {

void ByteQueue::Append(absl::string_view data) {
  while (!data.empty()) {
    if (chunks_.empty() || chunks_.back().end == kChunkSize) {
      chunks_.push_back(
          Chunk{std::make_unique_for_overwrite<char[]>(kChunkSize), 0, 0});
    }
    Chunk& back = chunks_.back();
    size_t n = std::min(data.size(), kChunkSize - back.end);
    std::memcpy(back.bytes.get() + back.end, data.data(), n);
    back.end += n;
    size_ += n;
    data.remove_prefix(n);
  }
}

int ByteQueue::Peek(struct iovec* iov, int max) const {
  int filled = 0;
  for (const Chunk& chunk : chunks_) {
    if (filled == max || chunk.begin == chunk.end) break;
    iov[filled].iov_base = chunk.bytes.get() + chunk.begin;
    iov[filled].iov_len = chunk.end - chunk.begin;
    ++filled;
  }
  return filled;
}

void ByteQueue::Consume(size_t n) {
  size_ -= n;
  while (n > 0) {
    Chunk& front = chunks_.front();
    size_t take = std::min(n, front.end - front.begin);
    front.begin += take;
    n -= take;
    if (front.begin == front.end) {
      if (chunks_.size() == 1) {
        front.begin = front.end = 0;  // Keep one chunk for reuse.
      } else {
        chunks_.pop_front();
      }
    }
  }
}

void ByteQueue::Clear() {
  chunks_.clear();
  size_ = 0;
}

}  // namespace offlog
