#include "offlog/server/read_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace offlog {
namespace {

constexpr size_t kPages = 16;

// How many of the buffer's pages are in memory (mincore).
size_t ResidentPages(ReadBuffer& buf) {
  std::vector<unsigned char> vec(kPages);
  EXPECT_EQ(mincore(buf.data(), buf.size(), vec.data()), 0);
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST(ReadBufferTest, NothingIsDueBeforeAnyRead) {
  ReadBuffer buf(kPages * 4096, 1000);
  EXPECT_EQ(buf.ReleaseDueMs(), -1);
  EXPECT_FALSE(buf.ReleaseIfDue(1 << 30));
}

TEST(ReadBufferTest, GivesItsPagesBackOnceIdleForTheDelay) {
  ReadBuffer buf(kPages * 4096, 1000);
  memset(buf.data(), 'x', buf.size());
  buf.MarkUsed(5000);
  EXPECT_EQ(ResidentPages(buf), kPages);
  EXPECT_EQ(buf.ReleaseDueMs(), 6000);

  EXPECT_FALSE(buf.ReleaseIfDue(5999));
  EXPECT_EQ(ResidentPages(buf), kPages);

  EXPECT_TRUE(buf.ReleaseIfDue(6000));
  EXPECT_EQ(ResidentPages(buf), 0u);
  EXPECT_EQ(buf.ReleaseDueMs(), -1);
  EXPECT_FALSE(buf.ReleaseIfDue(9000));
}

TEST(ReadBufferTest, AReadPostponesTheRelease) {
  ReadBuffer buf(kPages * 4096, 1000);
  memset(buf.data(), 'x', buf.size());
  buf.MarkUsed(5000);
  buf.MarkUsed(5800);
  EXPECT_FALSE(buf.ReleaseIfDue(6000));
  EXPECT_EQ(ResidentPages(buf), kPages);
  EXPECT_TRUE(buf.ReleaseIfDue(6800));
  EXPECT_EQ(ResidentPages(buf), 0u);
  // Usable again after a release: a read faults in a fresh page.
  buf.data()[0] = 'y';
  EXPECT_EQ(buf.data()[0], 'y');
  EXPECT_EQ(ResidentPages(buf), 1u);
}

}  // namespace
}  // namespace offlog
