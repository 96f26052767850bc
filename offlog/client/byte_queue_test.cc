#include "offlog/client/byte_queue.h"

#include <string>

#include "gtest/gtest.h"

namespace offlog {
namespace {

// Removes everything from `queue`, a few bytes at a time, and returns it.
std::string Drain(ByteQueue& queue, size_t step) {
  std::string out;
  while (!queue.empty()) {
    struct iovec iov[4];
    int n = queue.Peek(iov, 4);
    EXPECT_GT(n, 0);
    size_t take = std::min(step, iov[0].iov_len);
    out.append(static_cast<char*>(iov[0].iov_base), take);
    queue.Consume(take);
  }
  return out;
}

TEST(ByteQueueTest, EmptyQueuePeeksNothing) {
  ByteQueue queue;
  struct iovec iov[2];
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.Peek(iov, 2), 0);
}

TEST(ByteQueueTest, KeepsOrderAcrossChunks) {
  ByteQueue queue;
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    std::string piece(static_cast<size_t>(i % 97), static_cast<char>(i));
    queue.Append(piece);
    expected += piece;
  }
  EXPECT_EQ(queue.size(), expected.size());
  EXPECT_GT(expected.size(), 3 * ByteQueue::kChunkSize);
  EXPECT_EQ(Drain(queue, 7777), expected);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(ByteQueueTest, PeekSpansChunksInOrder) {
  ByteQueue queue;
  std::string data(ByteQueue::kChunkSize + 10, 'a');
  data.back() = 'z';
  queue.Append(data);
  struct iovec iov[4];
  ASSERT_EQ(queue.Peek(iov, 4), 2);
  EXPECT_EQ(iov[0].iov_len, ByteQueue::kChunkSize);
  EXPECT_EQ(iov[1].iov_len, 10u);
  EXPECT_EQ(static_cast<char*>(iov[1].iov_base)[9], 'z');
  EXPECT_EQ(queue.Peek(iov, 1), 1);
}

TEST(ByteQueueTest, ReusesAfterDrainAndHandlesBinary) {
  ByteQueue queue;
  std::string binary("a\0b\0\xff", 5);
  queue.Append(binary);
  EXPECT_EQ(Drain(queue, 2), binary);
  queue.Append("again");
  EXPECT_EQ(Drain(queue, 100), "again");
  queue.Append("x");
  queue.Clear();
  EXPECT_TRUE(queue.empty());
}

}  // namespace
}  // namespace offlog
