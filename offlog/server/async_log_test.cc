#include "offlog/server/async_log.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

constexpr int kRecords = 200;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits (10 s at most, to detect a hang) until `log` has written `n`.
bool WaitWritten(const AsyncLog& log, uint64_t n) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (log.written() < n) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class AsyncLogTest : public ::testing::Test {
 protected:
  // The log file is process-wide and opened once; every test appends.
  static void SetUpTestSuite() {
    const char* dir = getenv("TEST_TMPDIR");
    ASSERT_NE(dir, nullptr);
    ASSERT_TRUE(OpenServerLogFile(Path()).ok());
  }
  static std::string Path() {
    return absl::StrCat(getenv("TEST_TMPDIR"), "/server.log");
  }
};

// The acceptor logs five records per client connection. Writing each one
// woke the log thread, which then took a CPU from the acceptor; records
// now wait for Flush(), which the acceptor calls once per turn of its loop.
TEST_F(AsyncLogTest, RecordsWaitForFlushAndThenAllArriveInOrder) {
  AsyncLog log;
  for (int i = 0; i < kRecords; ++i) {
    log.Write(Level::kInfo, absl::StrCat("before flush ", i), {});
  }
  // Nothing woke the thread: it has taken none of them.
  EXPECT_EQ(log.written(), 0u);
  log.Flush();
  ASSERT_TRUE(WaitWritten(log, kRecords));
  std::string text = ReadFile(Path());
  size_t at = 0;
  for (int i = 0; i < kRecords; ++i) {
    size_t next = text.find(absl::StrCat("before flush ", i, "\n"), at);
    ASSERT_NE(next, std::string::npos) << "record " << i;
    at = next;
  }
}

TEST_F(AsyncLogTest, RecordsNeverFlushedAreWrittenAtDestruction) {
  {
    AsyncLog log;
    log.Write(Level::kInfo, "written without a flush", {});
  }
  EXPECT_NE(ReadFile(Path()).find("written without a flush\n"),
            std::string::npos);
}

TEST_F(AsyncLogTest, AFullQueueDropsAndCounts) {
  AsyncLog log;
  std::string big(AsyncLog::kMaxQueuedBytes / 4 + 1, 'x');
  for (int i = 0; i < 4; ++i) log.Write(Level::kInfo, big, {});
  EXPECT_EQ(log.dropped(), 1u);
  log.Flush();
  ASSERT_TRUE(WaitWritten(log, 3));
}

}  // namespace
}  // namespace offlog
